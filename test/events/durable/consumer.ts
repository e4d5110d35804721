// A consumer node in its own process, for the kill -9 scenario of the durable suite: joins the
// durable group `worker` of `job.run` in namespace $NAMESPACE on $TRANSPORTER (any transporter
// URL: amqp://, nats://?ackWait=…, redis://?claimIdle=…), says "ready" on stdout once consuming,
// and "busy <messageID> <attempt>" when its handler starts. The handler never finishes, so the
// message stays unacknowledged until the process dies and another member gets it.
// Run: NAMESPACE=ns TRANSPORTER=redis://127.0.0.1:6379 node --import tsx test/events/durable/consumer.ts
import { ServiceBroker } from "../../../src/index.js";
import { holdingWorker } from "./victim.js";

const transporter = process.env.TRANSPORTER;
if (transporter === undefined) throw new Error("TRANSPORTER is not set");
const broker = new ServiceBroker({
  nodeID: `victim-${process.pid}`,
  namespace: process.env.NAMESPACE ?? "",
  logger: false,
  transporter,
});
broker.createService(
  holdingWorker((id, attempt) => process.stdout.write(`busy ${id} ${attempt}\n`)),
);
await broker.start();
process.stdout.write("ready\n");

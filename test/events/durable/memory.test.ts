import { ServiceBroker } from "flotilla";
import { crashNode } from "flotilla/testing";
import { createMemoryTransporter, MemoryBus } from "../../../src/transporters/memory/index.js";
import { runDurableConformance } from "./suite.js";
import { holdingWorker } from "./victim.js";

// memory:// keeps durable streams on its bus, in this process: every node of a namespace on the
// bus shares them, as the nodes on one message broker share theirs.
const bus = new MemoryBus("durable-suite");

runDurableConformance({
  name: "memory",
  transporter: () => createMemoryTransporter(bus),
  // The victim is a node of this process: killed, its bus member vanishes without a goodbye.
  async kill(namespace) {
    const victim = new ServiceBroker({
      nodeID: `victim-${namespace}`,
      namespace,
      logger: false,
      transporter: createMemoryTransporter(bus),
    });
    const busy = new Promise<string>((resolve) => victim.createService(holdingWorker(resolve)));
    await victim.start();
    return { busy, kill: () => crashNode(victim) };
  },
  skip: [
    {
      reason: "the streams live in this process: there is no server to restart",
      tests: ["a broker restart under 10,000 confirmed events loses none"],
    },
  ],
});

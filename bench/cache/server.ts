// One gateway of the cache benchmark, in its own process so autocannon does not share its event
// loop: `node --import tsx bench/cache/server.ts <store>` (none, memory, redis). Tells the
// parent its port over IPC once it serves.
import { startGateway } from "../../src/gateway/index.js";
import { benchBroker, type Store } from "./services.js";

const store = (process.argv[2] ?? "none") as Store;
const broker = await benchBroker("query", store, `bench-cache-gw-${process.pid}`);
const gateway = await startGateway(broker, { port: 0 });
process.send?.({ ready: true, port: Number(new URL(gateway.address!).port) });
process.on("SIGTERM", () => {
  void gateway
    .close()
    .then(() => broker.stop())
    .then(() => process.exit(0));
});

import { createMemoryTransporter, MemoryBus } from "../../src/transporters/memory.js";
import { runTransporterConformance } from "./suite.js";

// One bus per suite; each test runs in its own namespace.
const bus = new MemoryBus();
runTransporterConformance({
  name: "memory://",
  transporter: () => createMemoryTransporter(bus),
});

const msgpackBus = new MemoryBus();
runTransporterConformance({
  name: "memory:// with MessagePack",
  transporter: () => createMemoryTransporter(msgpackBus),
  options: () => ({ serializer: "msgpack" }),
});

import { createMemoryTransporter, MemoryBus } from "../../src/transporters/memory.js";
import { runTransporterConformance } from "./suite.js";

// One bus for the whole file; each test runs in its own namespace.
const bus = new MemoryBus();

runTransporterConformance({
  name: "memory://",
  transporter: () => createMemoryTransporter(bus),
});

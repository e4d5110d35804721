import { createMemoryTransporter, MemoryBus } from "../../src/transporters/memory/index.js";
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

const balancedBus = new MemoryBus();
runTransporterConformance({
  name: "memory:// broker-balanced",
  transporter: () => createMemoryTransporter(balancedBus),
  options: () => ({ balancing: "broker" }),
  skip: [
    {
      reason:
        "a request the broker handed to an instance that then leaves is ended by its deadline, not failed at once",
      tests: [
        "calls still in flight when the drain timeout ends fail at once, retryably",
        "a node that crashes is noticed: pending calls fail fast and retryably, the registry drops it",
      ],
    },
  ],
});

// flotilla/testing: the test kit.

// The memory transporter the cluster runs on (`TestCluster.bus`), for tests that wire nodes by hand.
export {
  createMemoryTransporter,
  MemoryBus,
  type MemoryFilter,
  type MemoryFilterVerdict,
  MemoryTransporter,
  memoryBuses,
} from "../transporters/memory/index.js";
export { createTestBroker } from "./broker.js";
export { createTestCluster, type FaultScope, type TestCluster } from "./cluster.js";
export { type HandledEvent, type WaitForEventOptions, waitForEvent } from "./events.js";
export { crashNode } from "./faults.js";
export { type ActionMock, mockAction, replaceService } from "./replace.js";

// flotilla/testing: the test kit.
export { createTestBroker } from "./broker.js";
export { createTestCluster, type FaultScope, type TestCluster } from "./cluster.js";
export { type HandledEvent, type WaitForEventOptions, waitForEvent } from "./events.js";
export { crashNode } from "./faults.js";
export { type ActionMock, mockAction, replaceService } from "./replace.js";

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
export type { EventTrigger } from "./contracts-capture.js";
export {
  type CallInteraction,
  type ConsumerContract,
  ContractFileError,
  type EmitInteraction,
  type HandleInteraction,
  type Interaction,
} from "./contracts-file.js";
export {
  type ContractRecorder,
  type RecordContractsOptions,
  recordContracts,
} from "./contracts-record.js";
export {
  ContractBrokenError,
  type ContractFailure,
  type ContractReport,
} from "./contracts-report.js";
export type { JsonValue, Shape } from "./contracts-shape.js";
export {
  type ProviderState,
  type VerifyContractsOptions,
  verifyContracts,
} from "./contracts-verify.js";
export { type HandledEvent, type WaitForEventOptions, waitForEvent } from "./events.js";
export { crashNode } from "./faults.js";
export { type ActionMock, mockAction, replaceService } from "./replace.js";

import { ContractBrokenError as BaseContractBrokenError } from "../errors/index.js";
import type { Interaction } from "./contracts-file.js";

/** One recorded interaction the provider no longer honours. */
export interface ContractFailure {
  /** The consumer that recorded it. */
  readonly consumer: string;
  /** `call` (an action), `emit` (an event the consumer emits), `handle` (one it handles). */
  readonly kind: Interaction["kind"];
  /** The action or event. */
  readonly name: string;
  /** The field concerned (`price`, `items[0].sku`), when there is one. */
  readonly field: string | undefined;
  /** What is wrong. */
  readonly problem: string;
  /** All of it in one line: consumer, action or event, field, problem. */
  readonly message: string;
}

/** What {@link verifyContracts} checked. */
export interface ContractReport {
  readonly provider: string;
  /** Consumers with interactions this provider verified. */
  readonly consumers: readonly string[];
  /** Interactions verified. */
  readonly verified: number;
  /** Interactions that could not be verified with `run: false` (events the consumer handles). */
  readonly skipped: readonly string[];
  readonly failures: readonly ContractFailure[];
}

/** A provider breaks interactions its consumers recorded; `data` is the whole report. */
export type ContractBrokenError = BaseContractBrokenError<ContractReport>;
export const ContractBrokenError = BaseContractBrokenError<ContractReport>;

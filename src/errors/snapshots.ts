import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/**
 * A contract snapshot file (`flotilla contracts snapshot`) cannot be read: not JSON, another
 * format, or a field of the wrong shape. `data` names the file and what is wrong where.
 *
 * @example
 * ```ts
 * readSnapshot("contracts.json"); // ContractSnapshotError: INVALID_CONTRACT_SNAPSHOT
 * ```
 */
export class ContractSnapshotError extends FlotillaError {
  constructor(file: string, problem: string, options: FlotillaErrorOptions = {}) {
    super(`${file} is not a contract snapshot: ${problem}`, "INVALID_CONTRACT_SNAPSHOT", 400, {
      ...options,
      data: options.data ?? { file, problem },
    });
  }
}

/** A consumer contract file (`recordContracts`) that cannot be read as one; `data.file` names it. */
export class ContractFileError extends FlotillaError {
  constructor(message: string, file: string, options: { cause?: unknown } = {}) {
    super(message, "CONTRACT_FILE_INVALID", 500, { ...options, data: { file } });
  }
}

/** What a broken-contract report holds at least: the provider and one message per failure. */
export interface ContractBrokenReport {
  readonly provider: string;
  readonly failures: readonly { readonly message: string }[];
}

/**
 * A provider breaks interactions its consumers recorded (`verifyContracts`); `data` is the
 * whole report, one failure per broken interaction.
 */
export class ContractBrokenError<
  R extends ContractBrokenReport = ContractBrokenReport,
> extends FlotillaError {
  declare readonly data: R;
  constructor(report: R) {
    const lines = report.failures.map((f) => `  - ${f.message}`).join("\n");
    super(
      `'${report.provider}' breaks ${report.failures.length} interaction(s) its consumers recorded:\n${lines}`,
      "CONTRACT_BROKEN",
      500,
      { data: report },
    );
  }
}

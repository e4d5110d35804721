import { FlotillaError } from "../../errors/index.js";

/** The label value that stands for every value past a {@link LabelCap}'s limit. */
export const OTHER = "other";

/** Distinct values one label takes before new ones become {@link OTHER}, unless told. */
export const DEFAULT_LABEL_LIMIT = 500;

/**
 * Keeps a label's values bounded: the first `limit` distinct values are kept as they are, and
 * any value seen after that is reported as `"other"`. Each series costs memory in this process
 * and in Prometheus, so a label fed by names from outside (actions called by name, events
 * emitted, error codes, caller nodes) goes through one of these.
 *
 * @example
 * ```ts
 * const actions = new LabelCap(2);
 * actions.value("a"); actions.value("b"); // "a", "b"
 * actions.value("c"); // "other"
 * ```
 */
export class LabelCap {
  readonly #seen = new Set<string>();

  constructor(readonly limit: number = DEFAULT_LABEL_LIMIT) {}

  /** `value` itself while there is room (or it was seen before), else `"other"`. */
  value(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.limit) return OTHER;
    this.#seen.add(value);
    return value;
  }
}

/** The `code` label of a success. */
export const OK = "OK";

/**
 * The `code` label of a failure: the stable code of a FlotillaError, else `INTERNAL_ERROR`
 * (what the error becomes on the wire and in dead letters).
 *
 * @example
 * ```ts
 * errorCode(new ServiceNotFoundError("x.y")); // "SERVICE_NOT_FOUND"
 * errorCode(new TypeError("oops")); // "INTERNAL_ERROR"
 * ```
 */
export function errorCode(err: unknown): string {
  return err instanceof FlotillaError ? err.code : "INTERNAL_ERROR";
}

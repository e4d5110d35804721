import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ContractFileError } from "../errors/index.js";
import { type Check, either, list, object, oneOf, optional, shape, text } from "../util/shape.js";
import type { JsonValue, Shape } from "./contracts-shape.js";

/** The `format` of a consumer contract file; another value is refused, not guessed at. */
export const CONTRACT_FORMAT = "flotilla-consumer-contract/1";

/** A call the consumer made: what it sent, and what it got (the result's shape, or an error). */
export interface CallInteraction {
  readonly kind: "call";
  /** The action, as called: `products.get`, `v2.users.get`. */
  readonly action: string;
  /** The provider state the consumer's test assumed (`recorder.given(...)`), if it named one. */
  readonly given?: string | undefined;
  /** The params the consumer sent, as they crossed the wire. */
  readonly params: JsonValue;
  /** The shape of the result the consumer got; absent when the action returned nothing. */
  readonly result?: Shape | undefined;
  /** The error the consumer got instead of a result, by code (it handles that case). */
  readonly error?: { readonly code: string } | undefined;
}

/** An event the consumer emitted: the provider (a service handling it) must accept the payload. */
export interface EmitInteraction {
  readonly kind: "emit";
  readonly event: string;
  readonly given?: string | undefined;
  /** The payload the consumer emitted. */
  readonly payload: JsonValue;
}

/** An event the consumer handled: the provider (which emits it) must keep the fields it saw. */
export interface HandleInteraction {
  readonly kind: "handle";
  readonly event: string;
  readonly given?: string | undefined;
  /** The shape of the payload the consumer's handler got. */
  readonly payload: Shape;
}

/** One thing a consumer relies on a provider for. */
export type Interaction = CallInteraction | EmitInteraction | HandleInteraction;

/**
 * What one consumer relies on from one provider, as its tests recorded it: the content of one
 * contract file. `provider` is a service's full name, or `"*"` for events the consumer emitted
 * whose handlers it did not know (every provider that handles them verifies them).
 */
export interface ConsumerContract {
  readonly format: typeof CONTRACT_FORMAT;
  readonly consumer: string;
  readonly provider: string;
  /** Set when the consumer records from several test files (`recordContracts({ suite })`). */
  readonly suite?: string | undefined;
  readonly interactions: readonly Interaction[];
}

export { ContractFileError };

/** The provider of a contract whose handlers were unknown when it was recorded. */
export const ANY_PROVIDER = "*";

const NAME = 1024;
/** Bounds of one file: far past what a test suite records, small enough to check cheaply. */
const MAX_INTERACTIONS = 10_000;
const name = text(NAME, true);
const given = optional(text(64 * 1024));
// Values and shapes are user data; their own shapes are checked where they are used.
const value: Check = () => undefined;
const checkContract = shape({
  format: oneOf([CONTRACT_FORMAT]),
  consumer: name,
  provider: name,
  suite: optional(name),
  interactions: list(
    MAX_INTERACTIONS,
    either(
      shape({
        kind: oneOf(["call"]),
        action: name,
        given,
        params: value,
        result: optional(object),
        error: optional(shape({ code: name })),
      }),
      either(
        shape({ kind: oneOf(["emit"]), event: name, given, payload: value }),
        shape({ kind: oneOf(["handle"]), event: name, given, payload: object }),
      ),
    ),
  ),
});

/**
 * Every contract in `dir` (`*.json`), oldest file name first. A file that is not a contract is
 * an error naming it, not skipped: a typo must not pass as "nothing to verify".
 *
 * @example
 * ```ts
 * const contracts = await readContracts("contracts");
 * ```
 */
export async function readContracts(dir: string): Promise<ConsumerContract[]> {
  const names = await readdir(dir).catch((err: unknown) => {
    throw new ContractFileError(`No contract folder '${dir}' to read.`, dir, { cause: err });
  });
  const files = names.filter((f) => f.endsWith(".json")).sort();
  return Promise.all(files.map((file) => readContract(join(dir, file))));
}

async function readContract(file: string): Promise<ConsumerContract> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new ContractFileError(`Contract file '${file}' is not JSON.`, file, { cause: err });
  }
  const problem = checkContract(parsed);
  if (problem !== undefined) {
    throw new ContractFileError(
      `Contract file '${file}' is not a consumer contract: contract${problem}`,
      file,
    );
  }
  return parsed as ConsumerContract;
}

/**
 * Writes the contracts of one consumer (and suite) into `dir`, one file per provider, and
 * removes that consumer's files of providers it no longer calls. Returns the files written.
 */
export async function writeContracts(
  dir: string,
  consumer: string,
  suite: string | undefined,
  contracts: readonly ConsumerContract[],
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const contract of contracts) {
    const file = join(dir, fileName(contract));
    await writeFile(file, `${stableJSON(contract)}\n`);
    written.push(file);
  }
  for (const old of await readdir(dir)) {
    const file = join(dir, old);
    if (!old.endsWith(".json") || written.includes(file)) continue;
    const stale = await readContract(file).catch(() => undefined);
    if (stale?.consumer === consumer && stale.suite === suite) await rm(file);
  }
  return written;
}

/** `orders--products.json`, `orders--products--checkout.json`, `orders--any.json`. */
function fileName(contract: ConsumerContract): string {
  const provider = contract.provider === ANY_PROVIDER ? "any" : contract.provider;
  const parts = [
    contract.consumer,
    provider,
    ...(contract.suite === undefined ? [] : [contract.suite]),
  ];
  return `${parts.map((p) => p.replace(/[^\w.$-]/g, "_")).join("--")}.json`;
}

/** JSON with keys sorted at every level and two-space indents: one diff line per change. */
export function stableJSON(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value).sort()) {
    const field = (value as Record<string, unknown>)[key];
    if (field !== undefined) out[key] = sortKeys(field);
  }
  return out;
}

import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ContractSnapshotError } from "../errors/index.js";
import { parseJsonLimited } from "../serializers/depth.js";
import { serviceFullName } from "../service/define.js";
import {
  boolean,
  type Check,
  either,
  list,
  number,
  object,
  oneOf,
  optional,
  record,
  shape,
  text,
} from "../util/shape.js";
import { type ContractSnapshot, type ServiceContract, SNAPSHOT_FORMAT } from "./snapshot.js";
import { stableStringify } from "./stable-json.js";

/** Bounds of a snapshot file: generous for real systems, a fixed budget for a hostile file. */
const LIMITS = {
  bytes: 64 * 1024 * 1024,
  depth: 256,
  services: 10_000,
  members: 10_000,
  name: 1024,
};

const name = text(LIMITS.name, true);
const schema = either(object, boolean);
const service: Check = shape({
  name,
  version: optional(either(text(LIMITS.name), number())),
  dependencies: list(LIMITS.services, name),
  actions: record(
    LIMITS.members,
    shape({
      visibility: oneOf(["published", "public"]),
      rest: optional(list(64, text(LIMITS.name))),
      params: optional(schema),
      result: optional(schema),
    }),
  ),
  events: record(LIMITS.members, shape({ params: optional(schema) })),
  emits: record(LIMITS.members, schema),
});
const snapshot: Check = shape({
  flotilla: oneOf([SNAPSHOT_FORMAT]),
  services: record(LIMITS.services, service),
});

/**
 * The text of a snapshot file: sorted keys, two-space indent, a final newline, so the same
 * contracts always give the same bytes and a review shows only what changed.
 */
export function formatSnapshot(value: ContractSnapshot): string {
  return `${stableStringify(value, 2)}\n`;
}

/**
 * Writes a snapshot to `path`: one file, or, when `path` is a directory (existing, or written
 * with a trailing `/`), one file per service (`<full name>.json`), each a snapshot of its own.
 * Returns the files written.
 */
export function writeSnapshot(path: string, value: ContractSnapshot): string[] {
  const asFolder = /[/\\]$/.test(path) || statSync(path, { throwIfNoEntry: false })?.isDirectory();
  if (!asFolder) {
    writeFileSync(path, formatSnapshot(value));
    return [path];
  }
  mkdirSync(path, { recursive: true });
  return Object.entries(value.services).map(([fullName, contract]) => {
    const file = join(path, `${fullName}.json`);
    writeFileSync(
      file,
      formatSnapshot({ flotilla: SNAPSHOT_FORMAT, services: { [fullName]: contract } }),
    );
    return file;
  });
}

/**
 * Reads a snapshot written by {@link writeSnapshot}: a file, or a folder of them (merged).
 * Throws {@link ContractSnapshotError} for anything that is not one, naming what is wrong.
 *
 * @example
 * ```ts
 * const before = readSnapshot("contracts.json");
 * Object.keys(before.services); // ["orders", "products", ...]
 * ```
 */
export function readSnapshot(path: string): ContractSnapshot {
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path)
      .filter((f) => f.endsWith(".json"))
      .sort();
    if (files.length === 0) throw new ContractSnapshotError(path, "a folder without .json files");
    const services: Record<string, ServiceContract> = {};
    for (const f of files) Object.assign(services, readSnapshot(join(path, f)).services);
    return { flotilla: SNAPSHOT_FORMAT, services };
  }
  if (statSync(path).size > LIMITS.bytes)
    throw new ContractSnapshotError(path, `larger than ${LIMITS.bytes} bytes`);
  return parseSnapshot(readFileSync(path, "utf8"), path);
}

/** Checks the text of a snapshot file (named `file` in errors) and returns its contracts. */
export function parseSnapshot(textOf: string, file = "snapshot"): ContractSnapshot {
  let value: unknown;
  try {
    value = parseJsonLimited(textOf, LIMITS.depth);
  } catch (err) {
    const why = err instanceof SyntaxError ? "not JSON" : `nested deeper than ${LIMITS.depth}`;
    throw new ContractSnapshotError(file, `${why} (${(err as Error).message})`);
  }
  const problem = snapshot(value);
  if (problem !== undefined) throw new ContractSnapshotError(file, `at ${problem.slice(0, 300)}`);
  const parsed = value as ContractSnapshot;
  for (const [fullName, c] of Object.entries(parsed.services)) {
    if (serviceFullName(c.name, c.version) !== fullName)
      throw new ContractSnapshotError(
        file,
        `the service under '${fullName.slice(0, 64)}' is named '${serviceFullName(c.name, c.version).slice(0, 64)}'`,
      );
  }
  return parsed;
}

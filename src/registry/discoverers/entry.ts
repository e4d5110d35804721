import { checkAnnouncement } from "../announcement.js";
import type { NodeAnnouncement } from "../catalog.js";

/**
 * A node's entry in a registry center: what it announces (the INFO body) plus, when its
 * transporter has one, the address peers dial it at (`"10.0.0.5:4000"` on tcp://).
 */
export interface NodeEntry extends NodeAnnouncement {
  address?: string | undefined;
}

/**
 * The largest entry read from a registry, in bytes. etcd refuses values over 1.5 MiB and
 * ZooKeeper over 1 MiB by default; a larger one is not a node's entry, and is not parsed.
 */
export const MAX_ENTRY_BYTES = 1024 * 1024;

/** The longest `address` an entry may carry (a host name and a port). */
const MAX_ADDRESS = 300;

/**
 * This node's entry as the text stored under its key.
 *
 * @example
 * ```ts
 * const text = encodeEntry({ ...announcement, address: "10.0.0.5:4000" });
 * ```
 */
export function encodeEntry(entry: NodeEntry): string {
  return JSON.stringify(entry);
}

/**
 * Reads an entry found under `nodeID`'s key. A registry is shared infrastructure that anyone
 * with write access can fill, so the text is bounded, parsed and checked before anything acts on
 * it: returns the entry, or what is wrong with it.
 *
 * @example
 * ```ts
 * const entry = decodeEntry("n1", value);
 * if (typeof entry === "string") logger.warn(`Ignoring the entry of 'n1': ${entry}`);
 * ```
 */
export function decodeEntry(nodeID: string, value: string | Uint8Array): NodeEntry | string {
  if (value.length > MAX_ENTRY_BYTES) return `larger than ${MAX_ENTRY_BYTES} bytes`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === "string" ? value : Buffer.from(value).toString("utf8"));
  } catch {
    return "not JSON";
  }
  const problem = checkAnnouncement(parsed);
  if (problem !== undefined) return `entry${problem}`;
  const entry = parsed as NodeEntry;
  if (entry.sender !== nodeID) return `it names node '${String(entry.sender).slice(0, 256)}'`;
  const { address } = entry;
  if (address !== undefined && (typeof address !== "string" || address.length > MAX_ADDRESS)) {
    return `address: expected a string of at most ${MAX_ADDRESS} characters`;
  }
  return entry;
}

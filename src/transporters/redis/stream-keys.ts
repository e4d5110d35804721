// Key names and reply parsing shared by the durable-events parts of the redis transporter.

/** The Redis keys of durable events in one namespace. */
export interface StreamKeys {
  /** The event's stream: every consumer group of the event reads it. */
  stream(event: string): string;
  /** A group's own stream of retries and replays (only that group reads it). */
  retries(event: string, group: string): string;
  /** A group's retries waiting for their time: a sorted set scored by due time (ms). */
  delayed(event: string, group: string): string;
  /** The namespace's dead letters. */
  readonly deadLetters: string;
  /** What every key of the namespace matches (`SCAN MATCH`), for tools and tests. */
  readonly pattern: string;
}

/**
 * The keys of durable events in `namespace`: `flo:<ns>:durable:<event>` for an event's stream,
 * `flo:<ns>:retry:<event>:<group>` and `flo:<ns>:delay:<event>:<group>` for a group's retries,
 * `flo:<ns>:dlq` for the dead letters. Each part is percent-encoded (`:` becomes `%3A`), so an
 * event or group name containing `:` cannot make two keys meet.
 *
 * @example
 * ```ts
 * streamKeys("shop").retries("orders.placed", "mailer"); // "flo:shop:retry:orders.placed:mailer"
 * ```
 */
export function streamKeys(namespace: string): StreamKeys {
  const base = `flo:${part(namespace)}`;
  return {
    stream: (event) => `${base}:durable:${part(event)}`,
    retries: (event, group) => `${base}:retry:${part(event)}:${part(group)}`,
    delayed: (event, group) => `${base}:delay:${part(event)}:${part(group)}`,
    deadLetters: `${base}:dlq`,
    // Glob characters in the namespace are escaped, so the pattern matches this namespace only.
    pattern: `${base.replace(/[*?[\]\\]/g, "\\$&")}:*`,
  };
}

function part(name: string): string {
  return encodeURIComponent(name);
}

/** One stream entry: its Redis ID and its fields. */
export interface Entry {
  readonly entryID: string;
  readonly fields: ReadonlyMap<string, Buffer>;
}

/** Reads one entry (`[id, [field, value, ...]]`) of a Buffer reply; undefined when deleted. */
export function parseEntry(raw: unknown): Entry | undefined {
  if (!Array.isArray(raw) || !Buffer.isBuffer(raw[0]) || !Array.isArray(raw[1])) return undefined;
  const flat: unknown[] = raw[1];
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const [name, value] = [flat[i], flat[i + 1]];
    if (Buffer.isBuffer(name) && Buffer.isBuffer(value)) fields.set(name.toString(), value);
  }
  return { entryID: raw[0].toString(), fields };
}

/** Reads a list of entries (XRANGE, XREADGROUP per stream), skipping deleted ones. */
export function parseEntries(raw: unknown): Entry[] {
  if (!Array.isArray(raw)) return [];
  return raw.map(parseEntry).filter((e): e is Entry => e !== undefined);
}

/** A field as text. */
export function field(entry: Entry, name: string): string | undefined {
  return entry.fields.get(name)?.toString();
}

/** Whether `err` is Redis' answer to a command (as opposed to a lost or missing connection). */
export function isReplyError(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === "ReplyError";
}

/** The group (or the stream) is gone, e.g. after a restart of a server that does not persist. */
export function isNoGroup(err: unknown): boolean {
  return isReplyError(err) && String((err as Error).message).startsWith("NOGROUP");
}

/** Bytes for ioredis, which sends a Buffer as is but turns other Uint8Arrays into text. */
export function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

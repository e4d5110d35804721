import { createHash } from "node:crypto";
import { natsSubject } from "./options.js";

/** Headers of durable messages (on the event streams and in the dead letters). */
export const HEADERS = {
  /** Flotilla's message ID: the same on every redelivery and replay. */
  id: "Flotilla-Id",
  /** On a replayed message: the only group that handles it (the others ack and skip it). */
  target: "Flotilla-Target-Group",
  /** On a dead letter: the event, the group that gave up, and why. */
  event: "Flotilla-Event",
  group: "Flotilla-Group",
  code: "Flotilla-Code",
  message: "Flotilla-Error",
  attempts: "Flotilla-Attempts",
  failedAt: "Flotilla-Failed-At",
  nodeID: "Flotilla-Node",
} as const;

/** Where the durable events of one namespace live on JetStream. */
export interface DurableNames {
  /** The stream of every durable event of the namespace (`FLOTILLA_<ns>`). */
  readonly stream: string;
  /** Its subjects: `flo.<ns>.durable.>`. */
  readonly streamSubjects: string;
  /** The dead-letter stream (`FLOTILLA_<ns>_DLQ`) and its one subject (`flo.<ns>.dlq`). */
  readonly deadLetterStream: string;
  readonly deadLetterSubject: string;
  /** The subject an event is published on. */
  subject(event: string): string;
  /** The durable consumer of one group on one event. */
  consumer(event: string, group: string): string;
}

/**
 * The JetStream names of a namespace's durable events. Every name is one-to-one with what it is
 * made of: a namespace, event or group cannot make its name collide with another's, nor turn a
 * subject into a wildcard (see {@link nameToken}).
 *
 * @example
 * ```ts
 * const names = durableNames("shop");
 * names.stream; // "FLOTILLA_shop"
 * names.subject("orders.placed"); // "flo.shop.durable.orders.placed"
 * names.consumer("orders.placed", "email"); // "orders_2Eplaced__email"
 * ```
 */
export function durableNames(namespace: string): DurableNames {
  const ns = nameToken(namespace || "default");
  const prefix = `flo.${ns}.durable`;
  return {
    stream: bounded(`FLOTILLA_${ns}`),
    streamSubjects: `${prefix}.>`,
    deadLetterStream: bounded(`FLOTILLA_${ns}_DLQ`),
    deadLetterSubject: `flo.${ns}.dlq`,
    subject: (event) => `${prefix}.${natsSubject(event)}`,
    // An escape is `_` and two hex digits, so `__` never occurs inside a token: it separates.
    consumer: (event, group) => bounded(`${nameToken(event)}__${nameToken(group)}`),
  };
}

/**
 * Makes `text` a valid stream, consumer and subject token: `A-Z a-z 0-9 -` stay, anything else
 * (`.`, `*`, `>`, whitespace, `_` itself) becomes `_` and two hex digits per UTF-8 byte.
 *
 * @example
 * ```ts
 * nameToken("my_ns.v2"); // "my_5Fns_2Ev2"
 * ```
 */
export function nameToken(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(c) ? c : `_${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Names become directories in the server's store: long ones keep a prefix and a hash. */
function bounded(name: string): string {
  if (name.length <= 200) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 24);
  return `${name.slice(0, 170)}-${hash}`;
}

/** Printable ASCII without `%`, not starting or ending with a space: nothing to encode. */
const PLAIN_HEADER = /^[!-$&-~](?:[ -$&-~]*[!-$&-~])?$/;

/**
 * A header value can hold neither CR nor LF, and the client trims it: `%`, control characters
 * and whitespace at either end are percent-encoded (as UTF-8), so any text goes through unchanged.
 *
 * @example
 * ```ts
 * encodeHeader("line 1\nline 2"); // "line 1%0Aline 2"
 * ```
 */
export function encodeHeader(value: string): string {
  if (PLAIN_HEADER.test(value)) return value; // IDs, codes, names: the usual case
  const chars = [...value];
  const last = chars.length - 1;
  return chars
    .map((c, i) => {
      const code = c.codePointAt(0) ?? 0;
      const trimmed = (i === 0 || i === last) && /\s/u.test(c);
      return c === "%" || code < 0x20 || code === 0x7f || trimmed ? encodeURIComponent(c) : c;
    })
    .join("");
}

/**
 * The inverse of {@link encodeHeader}.
 *
 * @example
 * ```ts
 * decodeHeader("line 1%0Aline 2"); // "line 1\nline 2"
 * ```
 */
export function decodeHeader(value: string): string {
  return value.replace(/(?:%[0-9A-F]{2})+/g, (run) => decodeURIComponent(run));
}

import { PayloadTooDeepError } from "../errors/index.js";

/**
 * The deepest nesting of objects and arrays a serializer writes or reads, unless told otherwise.
 * Real payloads stay far below it; it sits far below the depth at which `JSON.stringify` or
 * msgpackr overflow the stack (about 6,000), so an over-deep value is refused with
 * `PAYLOAD_TOO_DEEP` wherever it arrives instead of crashing whatever walks it next.
 */
export const DEFAULT_MAX_DEPTH = 512;

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_ARRAY = 91;
const OPEN_OBJECT = 123;
const CLOSE_ARRAY = 93;
const CLOSE_OBJECT = 125;

/**
 * Whether JSON text (a string, or UTF-8 bytes from `offset`) nests deeper than `maxDepth`: counts
 * brackets outside strings, without parsing. Text shorter than twice the limit cannot be, so it
 * is not scanned at all.
 *
 * @example
 * ```ts
 * jsonTooDeep("[[1]]", 1); // true
 * ```
 */
export function jsonTooDeep(text: string | Uint8Array, maxDepth: number, offset = 0): boolean {
  if (text.length - offset <= 2 * maxDepth) return false;
  return typeof text === "string" ? scanString(text, maxDepth) : scanBytes(text, maxDepth, offset);
}

// Both scans jump over the inside of a string with a native `indexOf` for its closing quote
// (most bytes of a large payload are in strings): a character-by-character loop in JS cost a
// millisecond per megabyte on each side of every call.

function scanString(text: string, maxDepth: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(text, i);
      if (i < 0) return false; // an unterminated string: JSON.parse refuses it anyway
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

// The same over bytes: the characters it looks for are ASCII, which never occur inside a
// multi-byte UTF-8 sequence, so no decoding is needed.
function scanBytes(bytes: Uint8Array, maxDepth: number, offset: number): boolean {
  let depth = 0;
  for (let i = offset; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      i = closingQuote(bytes, i);
      if (i < 0) return false;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

/**
 * Where the string opened at `open` ends: the next quote not escaped (preceded by an even
 * number of backslashes); -1 when it never does.
 */
function closingQuote(text: string | Uint8Array, open: number): number {
  let at = open;
  for (;;) {
    at = typeof text === "string" ? text.indexOf('"', at + 1) : text.indexOf(QUOTE, at + 1);
    if (at < 0) return -1;
    let slashes = 0;
    while (at - slashes - 1 > open && code(text, at - slashes - 1) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return at;
  }
}

function code(text: string | Uint8Array, at: number): number {
  return typeof text === "string" ? text.charCodeAt(at) : text[at]!;
}

/**
 * Whether a value nests objects and arrays deeper than `maxDepth`. Stops as soon as it knows, so
 * it recurses at most `maxDepth` frames; a cycle counts as too deep. Byte arrays are leaves.
 *
 * @example
 * ```ts
 * valueTooDeep({ a: [{}] }, 2); // true
 * ```
 */
export function valueTooDeep(value: unknown, maxDepth: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (maxDepth <= 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (valueTooDeep(value[i], maxDepth - 1)) return true;
    return false;
  }
  if (ArrayBuffer.isView(value)) return false;
  const bag = value as Record<string, unknown>;
  for (const key in bag) if (valueTooDeep(bag[key], maxDepth - 1)) return true;
  return false;
}

/**
 * `JSON.parse` with a depth limit: text nested deeper than `maxDepth` is refused with
 * {@link PayloadTooDeepError} before it is parsed. For every edge that parses a stranger's
 * JSON outside the serializers (the CLI's params, say).
 *
 * @example
 * ```ts
 * parseJsonLimited('{"id": 7}'); // { id: 7 }
 * parseJsonLimited("[".repeat(10_000) + "]".repeat(10_000)); // throws PAYLOAD_TOO_DEEP
 * ```
 */
export function parseJsonLimited(text: string, maxDepth = DEFAULT_MAX_DEPTH): unknown {
  if (jsonTooDeep(text, maxDepth)) throw new PayloadTooDeepError(maxDepth);
  return JSON.parse(text);
}

/**
 * Runs a recursive encoder, turning the stack overflow of an over-deep value into
 * {@link PayloadTooDeepError}; other failures (a cycle, a BigInt) are rethrown as they are.
 */
export function encodeWithin<T>(value: unknown, maxDepth: number, encode: () => T): T {
  try {
    return encode();
  } catch (err) {
    if (err instanceof RangeError && valueTooDeep(value, maxDepth)) {
      throw new PayloadTooDeepError(maxDepth);
    }
    throw err;
  }
}

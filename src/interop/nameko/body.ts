import type { ConsumeMessage } from "amqplib";

/**
 * Reading a message body from the nameko side, never trusting it: its size is bounded, its
 * content type must be JSON (nameko's default serializer; pickle and others are refused, never
 * evaluated), and it parses into a checked shape before anything acts on it.
 */

/** Content type of kombu's JSON serializer, which nameko uses by default. */
export const JSON_CONTENT_TYPE = "application/json";

/** The outcome of reading a body: a value, or why it was refused. */
export type Read<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Parses a message body as JSON, refusing other content types and bodies over `limit` bytes. */
export function readJson(msg: ConsumeMessage, limit: number): Read<unknown> {
  const size = msg.content.length;
  if (size > limit) return { ok: false, reason: `Message of ${size} bytes exceeds ${limit} bytes` };
  const type = msg.properties.contentType;
  if (type !== undefined && type !== JSON_CONTENT_TYPE) {
    return { ok: false, reason: `Content type ${String(type)} is not supported; use json` };
  }
  try {
    return { ok: true, value: JSON.parse(msg.content.toString("utf8")) };
  } catch {
    return { ok: false, reason: "Message body is not valid JSON" };
  }
}

/** A request: nameko's `{"args": [...], "kwargs": {...}}`. */
export interface RpcRequest {
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** Checks a parsed request; the text is nameko's own for a request without them. */
export function asRequest(value: unknown): Read<RpcRequest> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "Message missing `args` or `kwargs`" };
  }
  const { args, kwargs } = value as Record<string, unknown>;
  if (
    !Array.isArray(args) ||
    typeof kwargs !== "object" ||
    kwargs === null ||
    Array.isArray(kwargs)
  ) {
    return { ok: false, reason: "Message missing `args` or `kwargs`" };
  }
  return { ok: true, value: { args, kwargs: kwargs as Record<string, unknown> } };
}

/** A reply: nameko's `{"result": ..., "error": null | {...}}`. */
export interface RpcReply {
  result: unknown;
  error: unknown;
}

/** Checks a parsed reply. */
export function asReply(value: unknown): Read<RpcReply> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "Reply is not an object" };
  }
  const { result, error } = value as Record<string, unknown>;
  return { ok: true, value: { result: result ?? null, error: error ?? null } };
}

/** JSON bytes of a value; `undefined` when it cannot be serialized (cycles, BigInt). */
export function toJson(value: unknown): Buffer | undefined {
  try {
    return Buffer.from(JSON.stringify(value ?? null), "utf8");
  } catch {
    return undefined;
  }
}

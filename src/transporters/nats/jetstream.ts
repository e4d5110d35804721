import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  ConfigurationError,
  DurablePublishError,
  JetStreamUnavailableError,
} from "../../errors/index.js";
import { optionalDependency } from "../../util/optional.js";

/** The part of `@nats-io/jetstream` durable events use. */
export type JetStreamModule = Pick<
  typeof import("@nats-io/jetstream"),
  | "jetstream"
  | "jetstreamManager"
  | "AckPolicy"
  | "DeliverPolicy"
  | "RetentionPolicy"
  | "StorageType"
>;

/** Settings of durable events on JetStream; given with the transporter's options. */
export interface JetStreamOptions {
  /**
   * How long the server waits for a member's ack (or its "still working") before it delivers the
   * message to another member, in ms: how soon the messages of a member that died move on.
   * Default 30 000. A member that is alive tells the server every third of this that its
   * handlers are still busy, so a long handler is not delivered twice.
   */
  ackWait?: number;
  /** How long a publish waits for the server's PubAck before it fails, in ms. Default 5000. */
  publishTimeout?: number;
  /**
   * How long an event waits for a group that does not take it, in ms; and how long a group
   * with no member left is kept (its durable consumer is then deleted by the server). Bounds
   * what instances that are gone for good (each broadcast handler is a group of its own) hold.
   * Default 7 days.
   */
  maxAge?: number;
  /**
   * Copies of each durable-event stream (and of its consumers) kept on a JetStream cluster, 1 to
   * 5. Default 1. On a cluster, use 3 (`?replicas=3`): a stream with one copy lives on one
   * server, and its events are out of reach (or lost, with that server's disk) while that server
   * is down. Applies when the streams are made; an existing stream keeps the copies it has (a
   * warning says so), since changing them is an operator's decision (`nats stream edit`). A
   * single server refuses more than 1 with `INVALID_TRANSPORTER_URL`.
   */
  replicas?: number;
}

export type ResolvedJetStreamOptions = Required<JetStreamOptions>;

/**
 * Splits the transporter's options into the connection's and durable events' (with defaults).
 *
 * @example
 * ```ts
 * const [nats, jetstream] = splitJetStreamOptions({ servers: ["127.0.0.1:4222"], ackWait: 2000 });
 * // nats: { servers: [...] }; jetstream: { ackWait: 2000, publishTimeout: 5000, maxAge: 604800000, replicas: 1 }
 * ```
 */
export function splitJetStreamOptions<T extends JetStreamOptions>(
  options: T,
): [Omit<T, keyof JetStreamOptions>, ResolvedJetStreamOptions] {
  const { ackWait, publishTimeout, maxAge, replicas, ...rest } = options;
  // JetStream keeps 1 to 5 copies; anything else would only fail later, at the first durable emit.
  if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 1 && replicas <= 5)) {
    throw new ConfigurationError(
      `Option 'replicas' must be an integer from 1 to 5, got '${replicas}'.`,
      "INVALID_TRANSPORTER_URL",
      { data: { replicas } },
    );
  }
  const resolved = {
    ackWait: ackWait ?? 30_000,
    publishTimeout: publishTimeout ?? 5000,
    maxAge: maxAge ?? 7 * 24 * 60 * 60 * 1000,
    replicas: replicas ?? 1,
  };
  return [rest, resolved];
}

/**
 * Loads the JetStream client, an optional peer dependency, on first use by durable events.
 * Without it, fails with `MISSING_DEPENDENCY` and the line to run.
 *
 * @example
 * ```ts
 * const { jetstream } = await loadJetStream();
 * ```
 */
export const loadJetStream: () => Promise<JetStreamModule> = optionalDependency(
  "@nats-io/jetstream",
  "Durable events on nats://",
  () => import("@nats-io/jetstream"),
);

/** A connection's JetStream clients: messages, and the management API. */
export interface JetStreamLink {
  readonly nc: NatsConnection;
  readonly mod: JetStreamModule;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

/**
 * Opens the JetStream clients on a connection. Fails clearly when the server has no JetStream.
 *
 * @example
 * ```ts
 * const { js, jsm } = await openJetStream(nc, 5000);
 * ```
 */
export async function openJetStream(nc: NatsConnection, timeout: number): Promise<JetStreamLink> {
  const mod = await loadJetStream();
  try {
    const jsm = await mod.jetstreamManager(nc, { timeout });
    return { nc, mod, js: jsm.jetstream(), jsm };
  } catch (cause) {
    if (cause instanceof Error && /jetstream not enabled|not enabled/i.test(cause.message)) {
      throw new ConfigurationError(
        "Durable events on nats:// need JetStream: start nats-server with -js (and a store dir, -sd).",
        "JETSTREAM_NOT_ENABLED",
        { cause },
      );
    }
    throw unavailable("could not reach JetStream", cause);
  }
}

/**
 * The JetStream API error code of `err`, if it is one (10059 stream not found, ...).
 *
 * @example
 * ```ts
 * const missing = await jsm.streams.info(name).catch((err) => apiCode(err) === STREAM_NOT_FOUND);
 * ```
 */
export function apiCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; apiError?: unknown } | null;
  return typeof e?.apiError === "function" && typeof e.code === "number" ? e.code : undefined;
}

export const STREAM_NOT_FOUND = 10059;
export const CONSUMER_NOT_FOUND = 10014;
export const NO_MESSAGE_FOUND = 10037;
/** A single server (JetStream not clustered) was asked for a stream with more than one copy. */
export const REPLICAS_NOT_SUPPORTED = 10074;

/**
 * The server did not answer a JetStream request, or refused it (gone, timed out, a stream
 * missing): try again later. Publishes fail with `DURABLE_PUBLISH_FAILED`, the rest with
 * `JETSTREAM_UNAVAILABLE`; both 503 and retryable.
 *
 * @example
 * ```ts
 * await js.publish(subject, data).catch((err) => {
 *   throw unavailable("did not confirm the publish", err, "DURABLE_PUBLISH_FAILED");
 * });
 * ```
 */
export function unavailable(
  what: string,
  cause: unknown,
  code: "DURABLE_PUBLISH_FAILED" | "JETSTREAM_UNAVAILABLE" = "JETSTREAM_UNAVAILABLE",
): DurablePublishError | JetStreamUnavailableError {
  const text = `NATS JetStream ${what}: ${cause instanceof Error ? cause.message : String(cause)}`;
  return code === "DURABLE_PUBLISH_FAILED"
    ? new DurablePublishError(text, { cause })
    : new JetStreamUnavailableError(text, { cause });
}

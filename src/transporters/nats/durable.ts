import type { JsMsg, StoredMsg, StreamConfig } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { ConfigurationError, PacketTooLargeError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type {
  DeadLetter,
  DeadLetterInfo,
  DurableConsumeOptions,
  DurableMessage,
  DurableStreams,
  DurableSubscription,
} from "../durable.js";
import { notConnected } from "../errors.js";
import { GroupConsumer } from "./durable-consumer.js";
import {
  type DurableNames,
  decodeHeader,
  durableNames,
  encodeHeader,
  HEADERS,
  nameToken,
} from "./durable-names.js";
import {
  apiCode,
  type JetStreamLink,
  openJetStream,
  REPLICAS_NOT_SUPPORTED,
  type ResolvedJetStreamOptions,
  STREAM_NOT_FOUND,
  unavailable,
} from "./jetstream.js";

/** What the transporter lends its durable streams. */
export interface NatsDurableHost {
  readonly nc: NatsConnection;
  readonly headers: () => MsgHdrs;
  readonly logger: Logger;
  readonly options: ResolvedJetStreamOptions;
  /** Whether the transporter has a server right now: publishes fail at once while it has none. */
  connected(): boolean;
}

/** JetStream's window for spotting a publish sent twice (by its `Nats-Msg-Id`): 2 minutes. */
const DUPLICATE_WINDOW = 2 * 60 * 1000;

/** Room for the headers a message carries, within the server's `max_payload`. */
const HEADER_ROOM = 1024;

/** A dead letter with where it sits in the dead-letter stream. */
interface StoredLetter {
  readonly seq: number;
  readonly letter: DeadLetter;
}

/**
 * Durable events on NATS JetStream, for one namespace: one stream holds every durable event
 * (`FLOTILLA_<ns>` on `flo.<ns>.durable.<event>`, file storage, kept until every group's
 * consumer acked it); each group is a durable pull consumer filtered on its event, shared by the
 * group's members; dead letters go to a second stream (`FLOTILLA_<ns>_DLQ` on `flo.<ns>.dlq`)
 * with why they died in headers. Publishes carry `Nats-Msg-Id`, so a publish sent again within
 * two minutes is stored once.
 *
 * @example
 * ```ts
 * const streams = new NatsDurableStreams(host, "shop");
 * await streams.publish("orders.placed", randomUUID(), bytes); // resolves on the PubAck
 * const sub = await streams.consume("orders.placed", { group: "email", concurrency: 10 }, (m) => m.ack());
 * ```
 */
export class NatsDurableStreams implements DurableStreams {
  readonly names: DurableNames;
  #ready: Promise<JetStreamLink> | undefined;

  constructor(
    private readonly host: NatsDurableHost,
    namespace: string,
  ) {
    this.names = durableNames(namespace);
  }

  async publish(stream: string, id: string, data: Uint8Array): Promise<void> {
    if (!this.host.connected()) throw notConnected("nats");
    const link = await this.#link();
    // Durable events are not sent in parts: each must fit the server's max_payload.
    const max = this.host.nc.info?.max_payload ?? 1024 * 1024;
    if (data.length + HEADER_ROOM > max) {
      const limit = max - HEADER_ROOM;
      throw new PacketTooLargeError(data.length, limit, {
        data: { size: data.length, limit, maxPayload: max },
      });
    }
    const headers = this.host.headers();
    headers.set(HEADERS.id, encodeHeader(id));
    await this.#publish(link, this.names.subject(stream), data, headers, encodeHeader(id));
  }

  async consume(
    stream: string,
    options: DurableConsumeOptions,
    handler: (message: DurableMessage) => void,
  ): Promise<DurableSubscription> {
    const link = await this.#link();
    return GroupConsumer.start({
      link,
      names: this.names,
      event: stream,
      group: options.group,
      concurrency: Math.max(1, options.concurrency),
      options: this.host.options,
      logger: this.host.logger,
      handler,
      deadLetter: (m, id, info) => this.#deadLetter(link, stream, m, id, info),
      ensureStreams: () => this.#ensureStreams(link),
    });
  }

  async listDeadLetters(): Promise<DeadLetter[]> {
    return (await this.#readDeadLetters(await this.#link())).map((s) => s.letter);
  }

  /**
   * Publishes the dead letters with this ID again, each to its own group only (the other groups'
   * consumers ack and skip it), and removes them from the dead-letter stream.
   */
  async replayDeadLetter(id: string): Promise<boolean> {
    const link = await this.#link();
    const found = (await this.#readDeadLetters(link)).filter((s) => s.letter.id === id);
    for (const { seq, letter } of found) {
      const headers = this.host.headers();
      headers.set(HEADERS.id, encodeHeader(id));
      headers.set(HEADERS.target, encodeHeader(letter.info.group));
      // Its own Nats-Msg-Id: the original's may still be inside the duplicate window.
      const msgID = `replay:${seq}:${encodeHeader(id)}`;
      await this.#publish(link, this.names.subject(letter.stream), letter.data, headers, msgID);
      // Should this fail, the letter stays and a second replay delivers it twice (at least once).
      await link.jsm.streams
        .deleteMessage(this.names.deadLetterStream, seq, false)
        .catch((err: unknown) => {
          throw unavailable("could not remove a replayed dead letter", err);
        });
    }
    return found.length > 0;
  }

  async #publish(
    link: JetStreamLink,
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs,
    msgID: string,
  ): Promise<void> {
    try {
      await link.js.publish(subject, data, {
        msgID,
        headers,
        timeout: this.host.options.publishTimeout,
      });
    } catch (cause) {
      // No stream took it (deleted, or the server is still loading it): make it on the next call.
      if (apiCode(cause) === STREAM_NOT_FOUND || /no responders|not enabled/i.test(String(cause)))
        this.#ready = undefined;
      throw unavailable("did not confirm the publish", cause, "DURABLE_PUBLISH_FAILED");
    }
  }

  async #deadLetter(
    link: JetStreamLink,
    stream: string,
    m: JsMsg,
    id: string,
    info: DeadLetterInfo,
  ): Promise<void> {
    const headers = this.host.headers();
    const set = (key: string, value: string | number) =>
      headers.set(key, encodeHeader(String(value)));
    set(HEADERS.id, id);
    set(HEADERS.event, stream);
    set(HEADERS.group, info.group);
    set(HEADERS.code, info.code);
    set(HEADERS.message, info.message);
    set(HEADERS.attempts, info.attempts);
    set(HEADERS.failedAt, info.failedAt);
    set(HEADERS.nodeID, info.nodeID);
    // Unique per stored message and group, so dead-lettering it again after a replay is kept,
    // while a retried publish of this one is not stored twice.
    const msgID = `dlq:${m.info.streamSequence}:${nameToken(info.group)}`;
    await this.#publish(link, this.names.deadLetterSubject, m.data, headers, msgID);
  }

  /** Reads the dead-letter stream from the start, one message after another; consumes nothing. */
  async #readDeadLetters(link: JetStreamLink): Promise<StoredLetter[]> {
    const out: StoredLetter[] = [];
    const { deadLetterStream: stream, deadLetterSubject: subject } = this.names;
    for (let seq = 1; ; ) {
      let stored: StoredMsg | null;
      // "The first message at or after seq": the server has it since 2.9; the client's type
      // lists it only for direct gets, which could read a replica that lags.
      const query = { seq, next_by_subj: subject };
      try {
        stored = await link.jsm.streams.getMessage(stream, query);
      } catch (err) {
        if (apiCode(err) === STREAM_NOT_FOUND) return out;
        throw unavailable("could not read the dead letters", err);
      }
      if (stored === null) return out;
      out.push({ seq: stored.seq, letter: toLetter(stored) });
      seq = stored.seq + 1;
    }
  }

  /** The JetStream clients, and both streams made; once, and again after a failure. */
  #link(): Promise<JetStreamLink> {
    this.#ready ??= (async () => {
      const link = await openJetStream(this.host.nc, this.host.options.publishTimeout);
      await this.#ensureStreams(link);
      return link;
    })().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #ensureStreams(link: JetStreamLink): Promise<void> {
    const { StorageType, RetentionPolicy } = link.mod;
    // The server refuses a duplicate window longer than the stream's max_age.
    const duplicates = Math.min(DUPLICATE_WINDOW, this.host.options.maxAge) * 1_000_000;
    const common = {
      storage: StorageType.File,
      duplicate_window: duplicates,
      // On a cluster, the copies a stream (and its consumers, which follow it) keeps on as many
      // servers: with 3, one server can die without losing or stalling a durable event.
      num_replicas: this.host.options.replicas,
    };
    await ensureStream(link, this.host.logger, {
      ...common,
      name: this.names.stream,
      subjects: [this.names.streamSubjects],
      // A message stays until every group's consumer acked it (consumers that exist when it
      // is published), then goes: the stream holds what is still owed to someone; for maxAge
      // at most, so that a group that never comes back cannot fill the disk.
      retention: RetentionPolicy.Interest,
      max_age: this.host.options.maxAge * 1_000_000,
    });
    await ensureStream(link, this.host.logger, {
      ...common,
      name: this.names.deadLetterStream,
      subjects: [this.names.deadLetterSubject],
      // Dead letters stay until they are replayed (or deleted by an operator).
      retention: RetentionPolicy.Limits,
    });
  }
}

/**
 * Adds a stream unless it exists; an existing one is used as it is (an operator may have tuned
 * it), with a warning when it keeps fewer or more copies than `replicas` asks for.
 */
async function ensureStream(
  link: JetStreamLink,
  logger: Logger,
  config: Partial<StreamConfig>,
): Promise<void> {
  const name = config.name ?? "";
  const wanted = config.num_replicas ?? 1;
  try {
    const { config: existing } = await link.jsm.streams.info(name);
    if ((existing.num_replicas || 1) !== wanted) {
      const fields = { stream: name, replicas: existing.num_replicas, wanted };
      logger.warn(
        fields,
        "Durable stream keeps another number of replicas than asked; left as it is",
      );
    }
    return;
  } catch (err) {
    if (apiCode(err) !== STREAM_NOT_FOUND) throw unavailable(`could not look up '${name}'`, err);
  }
  try {
    await link.jsm.streams.add({ ...config, name });
  } catch (err) {
    // Made meanwhile by another node (with a config that differs in some default): use it.
    if (apiCode(err) === 10058) return;
    if (apiCode(err) === REPLICAS_NOT_SUPPORTED) {
      throw new ConfigurationError(
        `Option 'replicas=${wanted}' needs a JetStream cluster; this NATS server runs JetStream on its own. Use replicas=1 (the default).`,
        "INVALID_TRANSPORTER_URL",
        { cause: err, data: { replicas: wanted } },
      );
    }
    throw unavailable(`could not create stream '${name}'`, err);
  }
}

function toLetter(stored: StoredMsg): DeadLetter {
  const get = (key: string) => decodeHeader(stored.header.get(key) ?? "");
  return {
    id: get(HEADERS.id),
    stream: get(HEADERS.event),
    data: stored.data,
    info: {
      group: get(HEADERS.group),
      code: get(HEADERS.code),
      message: get(HEADERS.message),
      attempts: Number(get(HEADERS.attempts)),
      failedAt: Number(get(HEADERS.failedAt)),
      nodeID: get(HEADERS.nodeID),
    },
  };
}

import { randomUUID } from "node:crypto";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../../observability/logger.js";
import type { DurableStreams } from "../durable.js";
import { connectFailed, notConnected, publishFailed } from "../errors.js";
import type { Transporter, TransporterCapabilities, TransporterContext } from "../transporter.js";
import {
  PART_HEADER,
  PART_OVERHEAD,
  PartAssembler,
  type PartProblem,
  partsSubject,
  splitParts,
} from "./chunks.js";
import { NatsDurableStreams } from "./durable.js";
import { type JetStreamOptions, splitJetStreamOptions } from "./jetstream.js";
import { loadNatsClient, type NatsClient } from "./load.js";
import {
  clientOptions,
  type NatsOptions,
  natsSubject,
  type ResolvedNatsOptions,
  resolveNatsOptions,
} from "./options.js";

/** One subscription, kept across reconnects and across disconnect() / connect(). */
interface Sub {
  readonly topic: string;
  readonly group: string | undefined;
}

/** Everything one connect() made, so disconnect() and kill() end exactly that. */
interface Run {
  readonly nc: NatsConnection;
  readonly context: TransporterContext;
  readonly logger: Logger;
  readonly client: NatsClient;
  readonly assemblers: Set<PartAssembler>;
  /** Whether the client has a server right now; publishes fail fast while it has none. */
  up: boolean;
}

/** Returned by every publish that went into the client's buffer: nothing to wait for. */
const SENT = Promise.resolve();

/** Used when a server does not say its limit; the nats-server default. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * The `nats://` transporter on the current NATS client (`@nats-io/transport-node`, an optional
 * peer dependency). Subjects are transit's topics; a subscription with a group is a NATS queue
 * group, so the server hands each message to one member. The client reconnects for ever and
 * subscribes again by itself; meanwhile `publish` fails at once with the retryable
 * `TRANSPORTER_NOT_CONNECTED` instead of buffering into the void. Messages over the server's
 * `max_payload` go in parts (see `chunks.ts`), also to queue groups. Capabilities: balancing;
 * durable events on JetStream (`durableStreams`, see `durable.ts`); not peer-aware.
 *
 * @example
 * ```ts
 * const t = new NatsTransporter({ servers: ["127.0.0.1:4222"] });
 * await t.connect({ nodeID: "n1", namespace: "", logger, maxPacketSize: 16 << 20, onMessage: () => {} });
 * await t.subscribe("jobs", "workers"); // one member of "workers" gets each message
 * await t.publish("jobs", new TextEncoder().encode("hi"));
 * ```
 */
export class NatsTransporter implements Transporter {
  readonly capabilities: TransporterCapabilities = {
    balancing: true,
    durable: true,
    peerAware: false,
  };
  readonly options: ResolvedNatsOptions;
  /** Settings of durable events (see {@link JetStreamOptions}). */
  readonly jetstream: Required<JetStreamOptions>;
  readonly #subs = new Map<string, Sub>();
  readonly #warned = new Set<string>();
  readonly #partPrefix = randomUUID().slice(0, 8);
  #partSeq = 0;
  #run: Run | undefined;
  /** A flush that confirms every SUB sent in the same tick (one PING for all of them). */
  #confirming: Promise<void> | undefined;

  constructor(options: NatsOptions & JetStreamOptions = {}) {
    const [nats, jetstream] = splitJetStreamOptions(options);
    this.options = resolveNatsOptions(nats);
    this.jetstream = jetstream;
  }

  /** Whether the transporter has a server right now. */
  get connected(): boolean {
    return this.#run?.up === true;
  }

  /** Connects (failing with `TRANSPORTER_NOT_CONNECTED` when no server answers) and subscribes again. */
  async connect(context: TransporterContext): Promise<void> {
    if (this.#run !== undefined) throw new Error("NatsTransporter is already connected.");
    const client = await loadNatsClient();
    const logger = context.logger.child({ transporter: "nats" });
    let nc: NatsConnection;
    try {
      nc = await client.connect(clientOptions(this.options, context));
    } catch (cause) {
      const { servers } = this.options;
      throw connectFailed(`NATS at ${servers.join(", ")}`, cause, { servers });
    }
    const run: Run = { nc, client, context, logger, assemblers: new Set(), up: true };
    this.#run = run;
    void this.#watch(run);
    for (const sub of this.#subs.values()) this.#open(run, sub);
    if (this.#subs.size > 0) await this.#confirm(run);
  }

  /**
   * Lets the subscriptions finish what they received, flushes what was published, closes. With
   * no server right now there is nothing to flush to: it just closes.
   */
  async disconnect(): Promise<void> {
    const up = this.#run?.up === true;
    const run = this.#end();
    if (run === undefined) return;
    if (up) {
      // A server that stops answering mid-drain must not hold up the node's shutdown.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.connectTimeout);
      });
      await Promise.race([run.nc.drain().catch(() => undefined), late]);
      clearTimeout(timer);
    }
    await run.nc.close().catch(() => undefined);
  }

  /** Drops the connection as a crash would: what is still buffered is not sent. */
  async kill(): Promise<void> {
    await this.#end()
      ?.nc.close()
      .catch(() => undefined);
  }

  /**
   * Subscribes to `topic`; with `group`, as a member of that NATS queue group. Resolves once the
   * server has the subscription, so a publish after that reaches it.
   */
  async subscribe(topic: string, group?: string): Promise<void> {
    const key = `${group ?? ""}\u0000${topic}`;
    if (this.#subs.has(key)) return;
    const sub: Sub = { topic, group };
    this.#subs.set(key, sub);
    const run = this.#run;
    if (run === undefined) return;
    this.#open(run, sub);
    // While the client has no server, the SUB goes out with the others when it is back.
    if (!run.up) return;
    await this.#confirm(run).catch((err: unknown) => {
      if (run.up) throw err; // else lost meanwhile: the client subscribes again on reconnect
    });
  }

  /**
   * Puts `data` into the client's buffer, which is written on the next turn of the event loop:
   * no round trip per message. Fails at once while there is no server. Over the server's
   * `max_payload` it goes in parts; its size is transit's to check (`maxPacketSize`).
   */
  publish(topic: string, data: Uint8Array): Promise<void> {
    const run = this.#run;
    if (run === undefined || !run.up) return Promise.reject(notConnected("nats"));
    try {
      const max = run.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
      if (data.length <= max) run.nc.publish(natsSubject(topic), data);
      else this.#publishParts(run, natsSubject(topic), data, max - PART_OVERHEAD);
    } catch (err) {
      return Promise.reject(publishFailed("nats", err));
    }
    return SENT;
  }

  /** Durable events of `namespace` on JetStream (`durable.ts`); the server needs `-js`. */
  durableStreams(namespace: string): DurableStreams {
    const run = this.#run;
    if (run === undefined) throw notConnected("nats");
    const { nc, client, logger } = run;
    const connected = () => this.#run === run && run.up;
    const host = { nc, headers: client.headers, logger, options: this.jetstream, connected };
    return new NatsDurableStreams(host, namespace);
  }

  #publishParts(run: Run, subject: string, data: Uint8Array, size: number): void {
    const { headers } = run.client;
    const id = `${this.#partPrefix}-${(this.#partSeq++).toString(36)}`;
    const early = partsSubject(subject);
    for (const { header, part, last } of splitParts(id, data, size)) {
      const h = headers();
      h.set(PART_HEADER, header);
      run.nc.publish(last ? subject : early, part, { headers: h });
    }
  }

  #open(run: Run, sub: Sub): void {
    const { topic, group } = sub;
    const { onMessage } = run.context;
    // No message put together here is larger than the node accepts: refused at its first part.
    const assembler = new PartAssembler(run.context.maxPacketSize);
    run.assemblers.add(assembler);
    const callback = (err: Error | null, msg: Msg) => {
      if (err !== null) {
        this.#warnOnce(run, `sub:${err.message}`, { err, topic }, "NATS subscription error");
        return;
      }
      let data: Uint8Array | PartProblem | undefined = msg.data;
      const part = msg.headers?.get(PART_HEADER);
      if (part) {
        data = assembler.add(part, msg.data);
        if (data === undefined) return;
        if (typeof data === "string") {
          const text = `Dropped a message sent in parts: ${data}`;
          this.#warnOnce(run, `part:${data}`, { topic, group }, text);
          return;
        }
      }
      try {
        onMessage(topic, data);
      } catch (error) {
        run.logger.error({ err: error, topic }, "onMessage threw; message dropped");
      }
    };
    const subject = natsSubject(topic);
    const queue = group === undefined ? undefined : natsSubject(group);
    run.nc.subscribe(subject, { queue, callback });
    // Every member gets the early parts of a large message: whoever gets its last part has them.
    run.nc.subscribe(partsSubject(subject), { callback });
  }

  /** One PING after every SUB of this tick: its PONG says the server has them all. */
  #confirm(run: Run): Promise<void> {
    this.#confirming ??= Promise.resolve().then(() => {
      this.#confirming = undefined;
      return run.nc.flush();
    });
    return this.#confirming;
  }

  /** Follows the client's connection state; tells transit when the server is lost and back. */
  async #watch(run: Run): Promise<void> {
    const { context, logger, nc } = run;
    try {
      for await (const status of nc.status()) {
        if (this.#run !== run) break;
        if (status.type === "disconnect" && run.up) {
          run.up = false;
          // Parts lost with the connection will not come: drop what was half put together.
          for (const assembler of run.assemblers) assembler.clear();
          logger.warn({ server: status.server }, "Lost the NATS server; reconnecting");
          context.onConnection?.(false);
        } else if (status.type === "reconnect" && !run.up) {
          // The client has sent every SUB again before it says so.
          run.up = true;
          logger.info({ server: status.server }, "Reconnected to NATS");
          context.onConnection?.(true);
        } else if (status.type === "error") {
          this.#warnOnce(run, `error:${status.error.message}`, { err: status.error }, "NATS error");
        }
      }
    } catch (err) {
      logger.error({ err }, "NATS status stream failed");
    }
    if (this.#run === run && nc.isClosed()) {
      // Closed for good (not by us): say so once; connect() again is the way back.
      logger.error("The NATS connection closed and will not reconnect");
      this.#run = undefined;
      if (run.up) context.onConnection?.(false);
      run.up = false;
    }
  }

  #end(): Run | undefined {
    const run = this.#run;
    this.#run = undefined;
    this.#confirming = undefined;
    if (run !== undefined) run.up = false;
    return run;
  }

  #warnOnce(run: Run, key: string, fields: Record<string, unknown>, message: string): void {
    if (this.#warned.has(key)) {
      run.logger.debug(fields, message);
      return;
    }
    if (this.#warned.size > 100) this.#warned.clear();
    this.#warned.add(key);
    run.logger.warn(fields, message);
  }
}

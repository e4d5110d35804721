import type { Redis } from "ioredis";
import type { Logger } from "../../observability/logger.js";
import type { DeadLetterInfo, DurableMessage } from "../durable.js";
import type { StreamKeys } from "./stream-keys.js";
import * as scripts from "./stream-scripts.js";

/** What a group member needs of the streams it belongs to. */
export interface MemberHost {
  readonly keys: StreamKeys;
  readonly logger: Logger;
  /** Idle time (ms) after which an entry counts as abandoned by its holder and is claimed. */
  readonly claimIdle: number;
  /** Opens a connection of the member's own, for its blocking reads. */
  openReader(): Promise<Redis>;
  /** Runs `op` on the shared command connection; fails at once while it is down. */
  command<T>(op: (redis: Redis) => Promise<T>): Promise<T>;
  /** Runs `op` on the shared command connection, waiting through outages for an answer. */
  settle<T>(op: (redis: Redis) => Promise<T>): Promise<T>;
}

/** Where an entry came from: the event's stream, or the group's own retry stream. */
export type Source = "stream" | "retries";

/** One member of one group of one event, and its keys. */
export interface MemberRef {
  readonly host: MemberHost;
  readonly event: string;
  readonly group: string;
  readonly consumer: string;
  readonly keys: Readonly<Record<Source | "delayed", string>>;
}

/** How a delivery ends. */
export type Settlement =
  | { kind: "ack" }
  | { kind: "retry"; delay: number }
  | { kind: "deadLetter"; info: DeadLetterInfo };

/** A delivery in the hands of a member, settled once. */
export class HeldMessage implements DurableMessage {
  #settled = false;

  constructor(
    readonly source: Source,
    readonly entryID: string,
    readonly id: string,
    readonly data: Buffer,
    readonly attempt: number,
    private readonly settleWith: (message: HeldMessage, how: Settlement) => Promise<void>,
  ) {}

  ack(): Promise<void> {
    return this.#settle({ kind: "ack" });
  }

  retry(delay: number): Promise<void> {
    return this.#settle({ kind: "retry", delay });
  }

  deadLetter(info: DeadLetterInfo): Promise<void> {
    return this.#settle({ kind: "deadLetter", info });
  }

  #settle(how: Settlement): Promise<void> {
    if (this.#settled) {
      return Promise.reject(new Error(`Durable message '${this.id}' was already settled.`));
    }
    this.#settled = true;
    return this.settleWith(this, how);
  }
}

/**
 * Settles a delivery in Redis, waiting through outages. ack is XACK (plus XDEL on a retry
 * stream, which only this group reads); retry and deadLetter each run one script that copies the
 * message (to the group's delayed set, or to the dead letters) and acknowledges it at once.
 * Resolves false when another member had claimed the entry meanwhile: it settles it then.
 */
export async function settleEntry(ref: MemberRef, m: HeldMessage, s: Settlement): Promise<boolean> {
  const { host, group, consumer } = ref;
  const key = ref.keys[m.source];
  const fromRetries = m.source === "retries" ? "1" : "0";
  if (s.kind === "ack") {
    await host.settle((redis) =>
      m.source === "stream"
        ? redis.callBuffer("XACK", key, group, m.entryID)
        : scripts.ackRetry.run(redis, [key], [group, m.entryID]),
    );
    return true;
  }
  if (s.kind === "retry") {
    const delay = Math.max(0, Math.round(s.delay));
    const args = [group, consumer, m.entryID, delay, m.id, m.attempt + 1, m.data, fromRetries];
    const held = await host.settle((redis) =>
      scripts.retryLater.run(redis, [key, ref.keys.delayed], args),
    );
    return held !== 0;
  }
  const args = [group, consumer, m.entryID, fromRetries, ...letterFields(ref.event, m, s.info)];
  const held = await host.settle((redis) =>
    scripts.deadLetter.run(redis, [key, host.keys.deadLetters], args),
  );
  return held !== 0;
}

/** The fields of a dead letter's entry. */
function letterFields(event: string, m: HeldMessage, info: DeadLetterInfo): (string | Buffer)[] {
  return [
    ...["id", m.id, "stream", event, "group", info.group, "data", m.data],
    ...["code", info.code, "message", info.message, "attempts", String(info.attempts)],
    ...["failedAt", String(info.failedAt), "nodeID", info.nodeID],
  ];
}

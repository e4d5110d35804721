import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../../observability/logger.js";
import { clientOptions, type RedisTransporterOptions } from "../../transporters/redis/options.js";
import { loadRedisClient } from "../../transporters/redis/transporter.js";
import { actionOf } from "./keys.js";
import { type CacheStore, type Claim, FREE } from "./store.js";

/** Deletes the lock only if this node still holds it (its token), in one step. */
const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

/** Settings of a {@link RedisStore}, defaults filled in. */
export interface RedisStoreSettings {
  readonly connection: RedisTransporterOptions;
  /** Before every key: entries under `<prefix>e:`, locks under `<prefix>l:`. */
  readonly prefix: string;
  readonly lockTtl: number;
  readonly commandTimeout: number;
  readonly nodeID: string;
  readonly namespace: string;
}

/**
 * The Redis store: one place for every node naming the same server and prefix. Entries are
 * `SET key json PX ttl`; clean scans (`SCAN MATCH`) and unlinks; a missing key's handler runs
 * under a short lock key (`SET NX PX`), and the other nodes poll for the value meanwhile.
 *
 * An outage never fails a call: while Redis does not answer (down, or slower than
 * `commandTimeout`), lookups miss, writes are dropped, and handlers run. Logged once when it
 * goes, once when it is back; `connected` shows it (and `health().cache`).
 */
export class RedisStore implements CacheStore {
  readonly kind = "redis";
  readonly entries = undefined;
  #client: Redis | undefined;
  #up = false;
  #warned = false;
  #probing = false;

  constructor(
    private readonly settings: RedisStoreSettings,
    private readonly logger: Logger,
  ) {}

  get connected(): boolean {
    return this.#up;
  }

  async open(): Promise<void> {
    const { Redis } = await loadRedisClient();
    const base = clientOptions(this.settings.connection, this.settings);
    const client = new Redis({
      ...base,
      connectionName: `${base.connectionName}:cache`,
      commandTimeout: this.settings.commandTimeout,
    });
    this.#client = client;
    client.on("ready", () => this.#back());
    client.on("error", (err: Error) => this.#down(err));
    client.on("close", () => this.#down(undefined));
    // The first attempt only: a server that is down now is waited for in the background.
    await client.connect().catch((err: Error) => this.#down(err));
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#up = false;
    client?.disconnect();
  }

  async get(key: string): Promise<string | undefined> {
    const client = this.#ready();
    if (client === undefined) return undefined;
    try {
      return (await client.get(this.#entry(key))) ?? undefined;
    } catch (err) {
      this.#down(err as Error);
      return undefined;
    }
  }

  async set(key: string, text: string, ttl: number): Promise<void> {
    const client = this.#ready();
    if (client === undefined) return;
    try {
      if (ttl > 0) await client.set(this.#entry(key), text, "PX", Math.ceil(ttl));
      else await client.set(this.#entry(key), text);
    } catch (err) {
      this.#down(err as Error);
    }
  }

  async clean(matches: (action: string) => boolean, glob: string): Promise<number> {
    const client = this.#ready();
    if (client === undefined) return 0;
    const base = `${this.settings.prefix}e:`;
    let removed = 0;
    try {
      let cursor = "0";
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${base}${glob}:*`, "COUNT", 500);
        cursor = next;
        const mine = keys.filter((k) => matches(actionOf(k.slice(base.length))));
        if (mine.length > 0) removed += await client.unlink(...mine);
      } while (cursor !== "0");
    } catch (err) {
      this.#down(err as Error);
    }
    return removed;
  }

  async claim(key: string): Promise<Claim> {
    const client = this.#ready();
    if (client === undefined) return FREE;
    const lock = `${this.settings.prefix}l:${key}`;
    const token = randomUUID();
    try {
      const taken = await client.set(lock, token, "PX", this.settings.lockTtl, "NX");
      if (taken === "OK") {
        return { kind: "owner", release: () => this.#release(client, lock, token) };
      }
      return await this.#wait(client, key, lock);
    } catch (err) {
      this.#down(err as Error);
      return FREE;
    }
  }

  /** Polls for the value until it is there, the lock is gone, or the lock's time is up. */
  async #wait(client: Redis, key: string, lock: string): Promise<Claim> {
    const end = Date.now() + this.settings.lockTtl;
    let pause = 2;
    while (Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 50);
      const replies = (await client.pipeline().get(this.#entry(key)).exists(lock).exec()) ?? [];
      const [value, held] = replies.map(([err, reply]) => {
        if (err) throw err;
        return reply;
      });
      if (typeof value === "string") return { kind: "value", text: value };
      if (held === 0) return FREE; // the holder failed (errors are not cached): run it here
    }
    return FREE;
  }

  async #release(client: Redis, lock: string, token: string): Promise<void> {
    try {
      await client.eval(RELEASE, 1, lock, token);
    } catch (err) {
      this.#down(err as Error); // the lock expires by itself
    }
  }

  #back(): void {
    this.#up = true;
    if (this.#warned) this.logger.info("Redis cache is back: results are cached again");
    this.#warned = false;
  }

  #probe(client: Redis): void {
    if (this.#probing) return;
    this.#probing = true;
    const timer = setInterval(() => {
      if (this.#client !== client || client.status !== "ready") {
        clearInterval(timer);
        this.#probing = false;
        return;
      }
      client.ping().then(
        () => {
          clearInterval(timer);
          this.#probing = false;
          this.#back();
        },
        () => undefined,
      );
    }, 1_000);
    timer.unref();
  }

  #ready(): Redis | undefined {
    return this.#up ? this.#client : undefined;
  }

  #entry(key: string): string {
    return `${this.settings.prefix}e:${key}`;
  }

  #down(err: Error | undefined): void {
    const client = this.#client;
    if (client === undefined) return; // closing
    this.#up = false;
    // A command too slow on a live connection: no "ready" will come, so ask until it answers.
    if (client.status === "ready") this.#probe(client);
    if (this.#warned) return;
    this.#warned = true;
    this.logger.warn(
      { err },
      "Redis cache unavailable: calls run their handlers and nothing is cached until it is back",
    );
  }
}

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrokerOptions, defineService, ServiceBroker } from "flotilla";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parseTransporterUrl } from "../../src/transporters/index.js";
import { parseRedisUrl } from "../../src/transporters/redis/options.js";
import { type Log, recorder } from "../events/durable/kit.js";
import { freePort, PrivateServer, until } from "../harness/index.js";

// Redis Sentinel: nodes are given the sentinels and the master's name
// (`redis://127.0.0.1:<sentinel port>?sentinel=flotilla`), never the master's address, and every
// connection (pub/sub and durable events) goes to the master the sentinel names. A private
// redis-server master (and a replica, for the failover) and one sentinel, on free ports.

const MASTER = "flotilla";

/** One `redis-server --sentinel` watching `master`, with its config file in a directory of its own. */
class Sentinel {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(master: PrivateServer): Promise<Sentinel> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "flotilla-sentinel-"));
    const config = join(dir, "sentinel.conf"); // the sentinel rewrites it: it must be its own
    writeFileSync(
      config,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `sentinel monitor ${MASTER} 127.0.0.1 ${master.port} 1`,
        // A master silent for 1 s is down; with a quorum of 1 this sentinel fails over alone.
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 5000`,
      ].join("\n"),
    );
    const child = spawn("redis-server", [config, "--sentinel"], {
      detached: true,
      stdio: "ignore",
    });
    const sentinel = new Sentinel(port, child, dir);
    process.once("exit", () => sentinel.#kill());
    await until(async () => (await sentinel.master()) === `127.0.0.1:${master.port}`, {
      timeout: 10_000,
      message: `the sentinel on ${port} to watch the master`,
    });
    return sentinel;
  }

  /** `host:port` of the master as the sentinel names it now; `undefined` while it cannot say. */
  async master(): Promise<string | undefined> {
    const reply = await this.#ask(["get-master-addr-by-name", MASTER]);
    return Array.isArray(reply) ? reply.join(":") : undefined;
  }

  /** How many replicas of the master the sentinel knows and considers up. */
  async replicasUp(): Promise<number> {
    const reply = await this.#ask(["replicas", MASTER]);
    if (!Array.isArray(reply)) return 0;
    return reply.filter((fields) => {
      const flags = (fields as string[])[(fields as string[]).indexOf("flags") + 1] ?? "";
      return !/down|disconnected/.test(flags);
    }).length;
  }

  async #ask(args: string[]): Promise<unknown> {
    const client = new Redis({ port: this.port, host: "127.0.0.1", lazyConnect: true });
    client.on("error", () => undefined);
    try {
      await client.connect();
      return await client.call("SENTINEL", ...args);
    } catch {
      return undefined;
    } finally {
      client.disconnect();
    }
  }

  #kill(): void {
    try {
      if (this.child.pid !== undefined) process.kill(-this.child.pid, "SIGKILL");
    } catch {
      // gone already
    }
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.#kill();
    if (this.child.exitCode === null && this.child.signalCode === null) await exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const sentinels: Sentinel[] = [];
const live: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.allSettled(live.splice(0).map((b) => b.stop()));
  await Promise.allSettled(sentinels.splice(0).map((s) => s.stop()));
  await PrivateServer.stopAll();
});
afterAll(() => PrivateServer.stopAll());

/** A master and a sentinel watching it (and a replica, when asked). */
async function sentinelSet({ replica = false } = {}) {
  const master = await PrivateServer.start("redis");
  let copy: PrivateServer | undefined;
  if (replica) {
    copy = await PrivateServer.start("redis");
    // Redis waits 5 s for more replicas before a diskless full sync; this one is all there is.
    const primary = new Redis({ port: master.port, host: "127.0.0.1" });
    await primary.config("SET", "repl-diskless-sync-delay", "0");
    primary.disconnect();
    const client = new Redis({ port: copy.port, host: "127.0.0.1" });
    await client.call("REPLICAOF", "127.0.0.1", String(master.port));
    await until(async () => (await client.info("replication")).includes("master_link_status:up"), {
      timeout: 15_000,
      message: "the replica to sync",
    });
    client.disconnect();
  }
  const sentinel = await Sentinel.start(master);
  sentinels.push(sentinel);
  if (replica) {
    await until(async () => (await sentinel.replicasUp()) === 1, {
      timeout: 15_000,
      message: "the sentinel to know the replica",
    });
  }
  return {
    master,
    replica: copy,
    sentinel,
    url: `redis://127.0.0.1:${sentinel.port}?sentinel=${MASTER}`,
  };
}

/** `echo.say` on one node and a caller on another, plus a durable `order.placed` handler. */
async function nodesOn(url: string, log: Log, options: BrokerOptions = {}) {
  const namespace = `sentinel-${process.pid}-${randomBytes(3).toString("hex")}`;
  const make = (nodeID: string) => {
    const broker = new ServiceBroker({
      nodeID,
      namespace,
      transporter: url,
      logger: false,
      ...options,
    });
    live.push(broker);
    return broker;
  };
  const svc = make("svc");
  svc.createService(
    defineService({ name: "echo", actions: { say: { handler: (ctx) => ctx.params } } }),
  );
  svc.createService(recorder("mailer", "order.placed", log));
  const caller = make("caller");
  await Promise.all([svc.start(), caller.start()]);
  await caller.waitForServices(["echo", "mailer"], 10_000);
  return { svc, caller, namespace };
}

describe("redis:// through Redis Sentinel", () => {
  it("calls and durable events go through the master the sentinel names", async () => {
    const { master, url } = await sentinelSet();
    const log: Log = [];
    const { caller, namespace } = await nodesOn(url, log);
    await expect(caller.call("echo.say", { n: 1 })).resolves.toEqual({ n: 1 });
    await caller.emit("order.placed", { orderId: 7 }, { durable: true });
    await until(() => log.length === 1, { message: "the durable event" });
    expect(log[0]).toMatchObject({ params: { orderId: 7 }, attempt: 1 });
    // The durable event was kept on the master (the sentinel itself stores nothing).
    const direct = new Redis({ port: master.port, host: "127.0.0.1" });
    try {
      expect((await direct.keys(`*${namespace}*`)).length).toBeGreaterThan(0);
    } finally {
      direct.disconnect();
    }
  });

  it("after the master dies and the sentinel promotes its replica, calls and durable events go on", async () => {
    const { master, replica, sentinel, url } = await sentinelSet({ replica: true });
    const log: Log = [];
    // The nodes keep each other through the failover (a few seconds without their server).
    const { caller } = await nodesOn(url, log, { heartbeatTimeout: 30_000 });
    await expect(caller.call("echo.say", { n: 1 })).resolves.toEqual({ n: 1 });
    const killed = Date.now();
    await master.kill();
    await until(async () => (await sentinel.master()) === `127.0.0.1:${replica?.port}`, {
      timeout: 20_000,
      message: "the sentinel to promote the replica",
    });
    const promoted = Date.now();
    // Each connection asks the sentinel again when it reconnects, and finds the new master.
    await until(
      () =>
        // A short budget: a call sent before the other node is back is lost, not late.
        caller.call("echo.say", { n: 2 }, { timeout: 1_000 }).then(
          () => true,
          () => false,
        ),
      {
        timeout: 20_000,
        interval: 200,
        message: "a call through the new master",
      },
    );
    const back = Date.now();
    const ids = ["after-1", "after-2", "after-3"];
    for (const id of ids) {
      await until(
        () =>
          caller.emit("order.placed", { id }, { durable: true, messageID: id }).then(
            () => true,
            () => false,
          ),
        { timeout: 20_000, interval: 200, message: `the durable emit ${id}` },
      );
    }
    await until(() => ids.every((id) => log.some((l) => l.id === id)), {
      timeout: 20_000,
      message: "the durable events emitted after the failover",
    });
    console.info(
      `redis sentinel failover: promoted ${promoted - killed} ms after the kill, ` +
        `first call through the new master ${back - promoted} ms later`,
    );
  }, 60_000);
});

describe("Sentinel URLs", () => {
  it("name the sentinels and the master, in the query or in redis+sentinel://", () => {
    const query = parseRedisUrl(parseTransporterUrl("redis://s1:26380,s2?sentinel=main"));
    expect(query).toMatchObject({
      sentinel: "main",
      sentinels: [
        { host: "s1", port: 26380 },
        { host: "s2", port: 26379 },
      ],
    });
    const scheme = parseRedisUrl(
      parseTransporterUrl("rediss+sentinel://:pw@s1:26380,s2:26381/main/3?sentinelPassword=spw"),
    );
    expect(scheme).toMatchObject({
      tls: true,
      sentinel: "main",
      db: 3,
      password: "pw",
      sentinelPassword: "spw",
      sentinels: [
        { host: "s1", port: 26380 },
        { host: "s2", port: 26381 },
      ],
    });
  });

  it("a host list without a sentinel is refused: Redis Cluster is not supported", () => {
    expect(() => parseRedisUrl(parseTransporterUrl("redis://a:6379,b:6379"))).toThrow(
      expect.objectContaining({
        code: "INVALID_TRANSPORTER_URL",
        message: expect.stringContaining("Redis Cluster is not supported"),
      }),
    );
  });
});

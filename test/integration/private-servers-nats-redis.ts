// Helpers of the NATS and Redis tests:
//   PrivateServer           a nats-server / redis-server of the test's own, to kill and restart
//                           without disturbing the shared servers on 4222 / 6379
//   requireServer           fails (never skips) when a shared server is down, saying how to start it
//   ScopedTransporter       runs the byte-level transporter suite under a private topic prefix
//   runWithout              runs a script where a package cannot be found (missing peer dependency)
//   describeBrokerRestart   the broker-restart scenarios of issue 4, for one kind of server
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, connect as dial } from "node:net";
import { type BrokerOptions, defineService, ServiceBroker } from "flotilla";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type {
  Transporter,
  TransporterCapabilities,
  TransporterContext,
} from "../../src/transporters/transporter.js";
import { bytes, Probe } from "../transporters/helpers.js";

/** How each kind of server is started on a port, listening on 127.0.0.1 only. */
const commands = {
  nats: (port: number) => ["/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", String(port)]],
  redis: (port: number) => [
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
  ],
} as const satisfies Record<string, (port: number) => readonly [string, readonly string[]]>;

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dial(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Fails (never skips) when a shared server is down: in CI an unreachable broker must fail the run,
 * and elsewhere the message says what to start.
 */
export async function requireServer(name: string, port: number): Promise<void> {
  if (await reachable(port)) return;
  throw new Error(
    `${name} is not reachable on 127.0.0.1:${port}; start it (bash .ci/services.sh) and run again.`,
  );
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Polls `condition` every few ms until it holds, or fails after `timeout` ms. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeout: number,
  what: string,
): Promise<void> {
  const end = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A nats-server or redis-server of the test's own, on a fixed port so it can be stopped and
 * started again where the clients expect it. `stopAll()` in `afterAll` ends whatever is left.
 *
 * @example
 * ```ts
 * const server = await PrivateServer.start("nats");
 * await server.kill(); // the broker vanishes
 * await server.restart(); // and comes back on the same port
 * ```
 */
export class PrivateServer {
  static readonly #all = new Set<PrivateServer>();
  #child: ChildProcess | undefined;

  private constructor(
    readonly kind: keyof typeof commands,
    readonly port: number,
  ) {}

  /** Starts a server of `kind` on a free port and waits until it takes connections. */
  static async start(kind: keyof typeof commands): Promise<PrivateServer> {
    const server = new PrivateServer(kind, await freePort());
    PrivateServer.#all.add(server);
    await server.restart();
    return server;
  }

  /** Ends every server still running; for `afterAll`. */
  static async stopAll(): Promise<void> {
    await Promise.all([...PrivateServer.#all].map((s) => s.kill()));
    PrivateServer.#all.clear();
  }

  /** `host:port` for a transporter URL. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** (Re)starts the server on its port; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.#child !== undefined) throw new Error(`${this.kind} is already running`);
    const [command, args] = commands[this.kind](this.port);
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    // Should the test process die before afterAll, the server must not outlive it.
    const orphan = () => child.kill("SIGKILL");
    process.once("exit", orphan);
    child.once("exit", () => process.off("exit", orphan));
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    child.once("error", (err) => {
      stderr += String(err);
      exited = true;
    });
    await until(
      async () => {
        if (exited) throw new Error(`${command} exited at start: ${stderr}`);
        return reachable(this.port);
      },
      10_000,
      `${this.kind} on port ${this.port}`,
    );
  }

  /** Ends the server with SIGKILL (no goodbye to its clients) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }
}

/**
 * A transporter whose topics all live under `prefix`: lets the byte-level transporter suite,
 * whose topics are short names like `t`, run on a shared server without meeting anyone else.
 */
export class ScopedTransporter implements Transporter {
  constructor(
    readonly inner: Transporter,
    readonly prefix: string,
  ) {}

  get capabilities(): TransporterCapabilities {
    return this.inner.capabilities;
  }

  connect(context: TransporterContext): Promise<void> {
    const cut = this.prefix.length;
    return this.inner.connect({
      ...context,
      onMessage: (topic, data) => context.onMessage(topic.slice(cut), data),
    });
  }

  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }

  kill(): Promise<void> {
    return this.inner.kill?.() ?? this.inner.disconnect();
  }

  subscribe(topic: string, group?: string): Promise<void> {
    return this.inner.subscribe(this.prefix + topic, group);
  }

  publish(topic: string, data: Uint8Array): Promise<void> {
    return this.inner.publish(this.prefix + topic, data);
  }
}

/** The tests of the byte-level suite that need a peer-aware transporter. */
export const peerAwareTests = [
  "tells each side when a peer comes up",
  "reports a peer that leaves, after the messages it sent",
  "reports a peer that is killed",
  "reaches a node again after it restarts under the same nodeID",
  "keeps its subscriptions across a reconnect",
];

/**
 * Runs `script` (an ES module) in a Node process where `packages` cannot be found, as on a
 * machine where the optional peer dependency was never installed; returns its stdout.
 */
export async function runWithout(packages: string[], script: string): Promise<string> {
  const hook = `export async function resolve(specifier, context, next) {
    if (${JSON.stringify(packages)}.includes(specifier)) {
      const err = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
      err.code = "ERR_MODULE_NOT_FOUND";
      throw err;
    }
    return next(specifier, context);
  }`;
  const source = `import { register } from "node:module";
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});
${script}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", source], {
    cwd: new URL("../..", import.meta.url),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`script failed (${code}): ${err}`);
  return out;
}

/** One call of a {@link CallLoop}: when it started and settled, and how. */
export interface CallRecord {
  started: number;
  settled: number;
  error?: { name: string; code?: string; retryable?: boolean; message: string };
}

/**
 * Keeps `workers` calls of `call()` in flight until stopped, recording each. A failed call is
 * followed by a short pause: calls that fail at once would otherwise spin without ever letting
 * the event loop reach the sockets (and the reconnect this test is waiting for).
 */
export class CallLoop {
  readonly records: CallRecord[] = [];
  #running = true;
  readonly #done: Promise<unknown>;

  constructor(call: () => Promise<unknown>, workers: number) {
    const worker = async () => {
      while (this.#running) {
        const started = Date.now();
        try {
          await call();
          this.records.push({ started, settled: Date.now() });
        } catch (err) {
          const e = err as { name: string; code?: string; retryable?: boolean; message: string };
          const error = { name: e.name, code: e.code, retryable: e.retryable, message: e.message };
          this.records.push({ started, settled: Date.now(), error });
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    this.#done = Promise.all(Array.from({ length: workers }, worker));
  }

  /** Records of calls that started at or after `time`. */
  since(time: number): CallRecord[] {
    return this.records.filter((r) => r.started >= time);
  }

  /** Stops starting calls and waits for those in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

/** Two nodes on a private server: `svc` serves `echo.say`, `caller` calls it. */
async function pairOn(
  server: PrivateServer,
  options: BrokerOptions,
  live: ServiceBroker[],
): Promise<{ svc: ServiceBroker; caller: ServiceBroker }> {
  const namespace = `restart-${server.kind}-${process.pid}-${Date.now().toString(36)}`;
  const transporter = `${server.kind}://${server.address}`;
  const make = (nodeID: string) => {
    const broker = new ServiceBroker({ nodeID, namespace, transporter, logger: false, ...options });
    live.push(broker);
    return broker;
  };
  const svc = make("svc");
  svc.createService(
    defineService({
      name: "echo",
      actions: {
        // A little work per call, so that some calls are always in flight on the service.
        say: { handler: () => new Promise((resolve) => setTimeout(() => resolve("ok"), 2)) },
      },
    }),
  );
  const caller = make("caller");
  await Promise.all([svc.start(), caller.start()]);
  await caller.waitForServices("echo", 5_000);
  return { svc, caller };
}

/** Records what a transporter tells its node about the server, and waits on it. */
class ConnectionProbe extends Probe {
  readonly states: boolean[] = [];

  override context(): TransporterContext {
    return { ...super.context(), onConnection: (up) => this.states.push(up) };
  }
}

/**
 * The broker-restart scenarios of issue 4 for one kind of server: a transporter's own view of
 * losing and regaining the server, then two nodes that keep calling while the server is stopped
 * and started again on the same port. Nothing may hang past its deadline, what fails must fail
 * retryably, and calls must succeed again within seconds.
 */
export function describeBrokerRestart(
  kind: "nats" | "redis",
  transporterFor: (server: PrivateServer) => Transporter,
): void {
  describe(`${kind}: a broker restart`, () => {
    const live: ServiceBroker[] = [];
    const transporters: Transporter[] = [];
    afterEach(async () => {
      await Promise.allSettled(live.splice(0).map((b) => b.stop()));
      await Promise.allSettled(transporters.splice(0).map((t) => t.disconnect()));
    });
    afterAll(() => PrivateServer.stopAll());

    it("the transporter reports the outage, fails publishes at once, and keeps its subscriptions", async () => {
      const server = await PrivateServer.start(kind);
      const [a, b] = [transporterFor(server), transporterFor(server)];
      transporters.push(a, b);
      const [pa, pb] = [new ConnectionProbe("a"), new ConnectionProbe("b")];
      await a.connect(pa.context());
      await b.connect(pb.context());
      await b.subscribe("flo.t.EVENT.b");
      await server.kill();
      await until(() => pa.states.includes(false), 5_000, "a to report the outage");
      const started = Date.now();
      await expect(a.publish("flo.t.EVENT.b", bytes("lost"))).rejects.toMatchObject({
        code: "TRANSPORTER_NOT_CONNECTED",
        status: 503,
        retryable: true,
      });
      expect(Date.now() - started).toBeLessThan(50);
      await server.restart();
      await until(() => pa.states.at(-1) === true, 10_000, "a to report the server back");
      await until(() => pb.states.at(-1) === true, 10_000, "b to report the server back");
      expect(pa.states).toEqual([false, true]);
      // The restarted server knew nothing of b: b subscribed again before it said it was back.
      await a.publish("flo.t.EVENT.b", bytes("still there"));
      await pb.until(() => pb.texts("flo.t.EVENT.b").length === 1, "the message after the restart");
      expect(pb.texts("flo.t.EVENT.b")).toEqual(["still there"]);
    });

    it("calls fail fast and retryably while the server is down, and succeed again after it restarts", async () => {
      const server = await PrivateServer.start(kind);
      // Heartbeats outlast the outage here: the nodes keep each other in their registries.
      const { caller } = await pairOn(
        server,
        { heartbeatInterval: 250, heartbeatTimeout: 5_000 },
        live,
      );
      const timeout = 1_000;
      const loop = new CallLoop(() => caller.call("echo.say", {}, { timeout }), 8);
      let killed = 0;
      let restarted = 0;
      try {
        await until(() => loop.records.filter((r) => !r.error).length >= 200, 5_000, "calls");
        killed = Date.now();
        await server.kill();
        // Once the node knows the server is gone, calls fail at once instead of at their deadline.
        await until(
          () =>
            loop.since(killed).filter((r) => r.error && r.settled - r.started < 50).length >= 20,
          5_000,
          "calls to fail fast",
        );
        restarted = Date.now();
        await server.restart();
        await until(() => loop.since(restarted).some((r) => !r.error), 10_000, "a call to succeed");
        const back = Date.now();
        await until(() => loop.since(back).filter((r) => !r.error).length >= 100, 5_000, "calls");
        // Back for good: no failures once the first call went through (allowing for stragglers).
        expect(loop.since(back + 250).filter((r) => r.error)).toEqual([]);
        // Within seconds: each node is back within one reconnect wait (NATS: 1 s plus jitter).
        expect(back - restarted).toBeLessThan(5_000);
      } finally {
        await loop.stop();
      }
      const failures = loop.records.filter((r) => r.error);
      for (const { error } of failures) {
        expect(error).toMatchObject({ retryable: true });
        // Should a circuit breaker open on the failing calls, its error is retryable as well.
        expect(["SERVICE_NOT_AVAILABLE", "REQUEST_TIMEOUT", "CIRCUIT_OPEN"]).toContain(error?.code);
      }
      // Nothing hangs: every call settled within its deadline, plus scheduling slack.
      const slowest = Math.max(...loop.records.map((r) => r.settled - r.started));
      expect(slowest).toBeLessThan(timeout + 500);
    }, 30_000);

    it("a node stops at once while the server is down", async () => {
      const server = await PrivateServer.start(kind);
      const { svc } = await pairOn(server, {}, live);
      await server.kill();
      const started = Date.now();
      await svc.stop();
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it("an outage longer than the heartbeat timeout: nodes keep each other, and calls come back", async () => {
      const server = await PrivateServer.start(kind);
      const heartbeatTimeout = 1_000;
      const { caller } = await pairOn(server, { heartbeatInterval: 100, heartbeatTimeout }, live);
      const loop = new CallLoop(() => caller.call("echo.say", {}, { timeout: 1_000 }), 2);
      try {
        await until(() => loop.records.some((r) => !r.error), 5_000, "a call");
        const killed = Date.now();
        await server.kill();
        // The outage outlasts the heartbeat timeout twice over: it is the callers' own server
        // that is gone, so they keep the nodes they know instead of expiring them.
        await until(
          () => loop.since(killed + 2 * heartbeatTimeout).some((r) => r.error),
          10_000,
          "a failed call two heartbeat timeouts into the outage",
        );
        expect(caller.registry.isAvailable("echo")).toBe(true);
        const restarted = Date.now();
        await server.restart();
        await until(() => loop.since(restarted).some((r) => !r.error), 10_000, "a call to succeed");
      } finally {
        await loop.stop();
      }
      for (const { error } of loop.records.filter((r) => r.error)) {
        expect(error).toMatchObject({ retryable: true });
      }
    }, 30_000);
  });
}

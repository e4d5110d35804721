// The broker-restart scenarios of issue 4, shared by the NATS and Redis restart tests (and the
// call loop of the RabbitMQ one): nodes that keep calling while their server is killed and
// started again on the same port.
import { type BrokerOptions, defineService, ServiceBroker } from "flotilla";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { Transporter, TransporterContext } from "../../src/transporters/transporter.js";
import { PrivateServer, until } from "../harness/index.js";
import { bytes, Probe } from "../transporters/helpers.js";

/** One call of a {@link CallLoop}: when it started and settled, and how. */
export interface CallRecord {
  started: number;
  settled: number;
  error?: { name: string; code?: string; cause?: string; retryable?: boolean; message: string };
}

/**
 * Whether a call failed without waiting for its deadline: its send was refused because the
 * transporter is not connected, or an open circuit refused it before any send.
 */
export function failedFast(record: CallRecord): boolean {
  const { code, cause } = record.error ?? {};
  return cause === "TRANSPORTER_NOT_CONNECTED" || code === "CIRCUIT_OPEN";
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
          const e = err as Error & { code?: string; retryable?: boolean };
          const cause = (e.cause as { code?: string } | undefined)?.code;
          const { name, code, retryable, message } = e;
          this.records.push({
            started,
            settled: Date.now(),
            error: { name, code, cause, retryable, message },
          });
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

/**
 * Two nodes on a private server, in a namespace of their own: `svc` serves `echo.say` (a little
 * work per call, so that some calls are always in flight), `caller` calls it. Resolves once
 * `caller` sees the service.
 */
export async function pairOn(
  server: PrivateServer,
  options: BrokerOptions,
  live: ServiceBroker[],
): Promise<{ svc: ServiceBroker; caller: ServiceBroker; namespace: string }> {
  const namespace = `restart-${server.kind}-${process.pid}-${Date.now().toString(36)}`;
  const make = (nodeID: string) => {
    const broker = new ServiceBroker({
      nodeID,
      namespace,
      transporter: server.url,
      logger: false,
      ...options,
    });
    live.push(broker);
    return broker;
  };
  const svc = make("svc");
  svc.createService(
    defineService({
      name: "echo",
      actions: { say: { handler: () => new Promise((resolve) => setTimeout(resolve, 2, "ok")) } },
    }),
  );
  const caller = make("caller");
  await Promise.all([svc.start(), caller.start()]);
  await caller.waitForServices("echo", 10_000);
  return { svc, caller, namespace };
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
      await until(() => pa.states.includes(false), { message: "a to report the outage" });
      // Refused on the spot as not connected: the publish never waited on a server.
      await expect(a.publish("flo.t.EVENT.b", bytes("lost"))).rejects.toMatchObject({
        code: "TRANSPORTER_NOT_CONNECTED",
        status: 503,
        retryable: true,
      });
      await server.restart();
      await until(() => pa.states.at(-1) === true, {
        timeout: 10_000,
        message: "a to report the server back",
      });
      await until(() => pb.states.at(-1) === true, {
        timeout: 10_000,
        message: "b to report the server back",
      });
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
        await until(() => loop.records.filter((r) => !r.error).length >= 200, { message: "calls" });
        killed = Date.now();
        await server.kill();
        // Once the node knows the server is gone, calls fail at once (their send is refused)
        // instead of at their deadline.
        await until(() => loop.since(killed).filter(failedFast).length >= 20, {
          message: "calls to fail fast",
        });
        restarted = Date.now();
        await server.restart();
        await until(() => loop.since(restarted).some((r) => !r.error), {
          timeout: 10_000,
          message: "a call to succeed",
        });
        const back = Date.now();
        await until(() => loop.since(back).filter((r) => !r.error).length >= 100, {
          message: "calls",
        });
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
        await until(() => loop.records.some((r) => !r.error), { message: "a call" });
        const killed = Date.now();
        await server.kill();
        // The outage outlasts the heartbeat timeout twice over: it is the callers' own server
        // that is gone, so they keep the nodes they know instead of expiring them.
        await until(() => loop.since(killed + 2 * heartbeatTimeout).some((r) => r.error), {
          timeout: 10_000,
          message: "a failed call two heartbeat timeouts into the outage",
        });
        expect(caller.registry.isAvailable("echo")).toBe(true);
        const restarted = Date.now();
        await server.restart();
        await until(() => loop.since(restarted).some((r) => !r.error), {
          timeout: 10_000,
          message: "a call to succeed",
        });
      } finally {
        await loop.stop();
      }
      for (const { error } of loop.records.filter((r) => r.error)) {
        expect(error).toMatchObject({ retryable: true });
      }
    }, 30_000);
  });
}

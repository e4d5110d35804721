import { defineService, ServiceBroker } from "flotilla";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type AmqpLib, AmqpTransporter, loadAmqplib } from "../../src/transporters/amqp/index.js";
import { bytes, Probe } from "../transporters/helpers.js";
import { PrivateRabbitMQ } from "./private-rabbitmq.js";

// Stops and starts a private RabbitMQ node (its own name, port and data; the shared server on
// 5672 is never touched) while two Flotilla nodes call each other through it.
const CALL_TIMEOUT = 1000;
/** How late past its timeout a call may settle: timer and event-loop slack. */
const MARGIN = 500;

let rabbit: PrivateRabbitMQ | undefined;
const brokers: ServiceBroker[] = [];
const transporters: AmqpTransporter[] = [];

beforeAll(async () => {
  rabbit = await PrivateRabbitMQ.create();
  await rabbit.start();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([
    ...brokers.map((b) => b.stop()),
    ...transporters.map((t) => t.disconnect()),
  ]);
  await rabbit?.cleanup();
}, 60_000);

/** Polls `condition` every 20 ms until it holds; fails with `what` after `timeout` ms. */
async function until(condition: () => boolean, what: string, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How one call ended. */
interface Outcome {
  ok: boolean;
  ms: number;
  at: number;
  error?: { code?: string; cause?: string; retryable?: boolean; message: string };
}

it("keeps calling through a broker restart: fails fast and retryably while down, recovers within seconds", async () => {
  if (rabbit === undefined) throw new Error("no private RabbitMQ");
  const url = rabbit.url;
  const namespace = `restart-${process.pid}`;
  const node = (nodeID: string) => {
    const broker = new ServiceBroker({
      nodeID,
      namespace,
      logger: false,
      transporter: url,
      heartbeatInterval: 250,
      // Longer than the outage. With the default (4 s) the registry drops the other node while
      // this one is cut off, and calls fail with SERVICE_NOT_FOUND (404, not retryable) until it
      // is heard again: discovery should not expire peers while its own transporter is down.
      heartbeatTimeout: 20_000,
      // Off, to measure the transport's recovery. With the default breaker, the half-open probe
      // fails with TRANSPORTER_NOT_CONNECTED while this node is still reconnecting, which
      // opens the circuit again: calls fail with CIRCUIT_OPEN for up to ~5 s after the node is
      // back. A local transport failure says nothing about the remote endpoint.
      circuitBreaker: false,
    });
    brokers.push(broker);
    return broker;
  };
  const service = node("service");
  service.createService(
    defineService({
      name: "work",
      actions: {
        // Takes a moment, so calls are in flight when the broker goes down.
        echo: { handler: (ctx) => new Promise((r) => setTimeout(() => r(ctx.params), 10)) },
      },
    }),
  );
  const caller = node("caller");
  await Promise.all([service.start(), caller.start()]);
  await caller.waitForServices("work", 10_000);

  // A durable group queue (no consumer left) holding a persistent message across the restart.
  const lib = await loadAmqplib();
  const keeper = transporter(lib, rabbit.port);
  await keeper.connect(new Probe("keeper", namespace).context());
  await keeper.subscribe("kept", "keepers", { durable: true });
  await keeper.disconnect();
  const sender = transporter(lib, rabbit.port);
  await sender.connect(new Probe("sender", namespace).context());
  await sender.publish("kept", bytes("survived"), { persistent: true });
  await sender.disconnect();

  // Eight callers in a loop, each call with its own deadline.
  const outcomes: Outcome[] = [];
  let running = true;
  const loop = async (worker: number) => {
    for (let i = 0; running; i++) {
      const started = Date.now();
      try {
        await caller.call("work.echo", { worker, i }, { timeout: CALL_TIMEOUT });
        outcomes.push({ ok: true, ms: Date.now() - started, at: started });
      } catch (err) {
        const e = err as Error & { code?: string; retryable?: boolean };
        const cause = (e.cause as { code?: string } | undefined)?.code;
        const error = { code: e.code, cause, retryable: e.retryable, message: e.message };
        outcomes.push({ ok: false, ms: Date.now() - started, at: started, error });
        // Fast failures would spin this loop; pace them (this is load, not a wait).
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  };
  const loops = Array.from({ length: 8 }, (_, w) => loop(w));
  await until(() => outcomes.filter((o) => o.ok).length >= 100, "calls to flow", 10_000);

  const stopping = Date.now();
  await rabbit.stop();
  const stopped = Date.now();
  await until(
    () => caller.health().transporter?.connected === false,
    "the caller to notice",
    5_000,
  );

  // While down: a call fails at once, with a retryable 503: the send failed because the
  // transporter is not connected (or, once enough calls failed so, the circuit breaker is open).
  const t0 = Date.now();
  const down = await caller
    .call("work.echo", {}, { timeout: CALL_TIMEOUT })
    .catch((e: unknown) => e);
  expect(Date.now() - t0).toBeLessThan(200);
  expect(down).toMatchObject({ retryable: true, status: 503 });
  expect(["SERVICE_NOT_AVAILABLE", "CIRCUIT_OPEN"]).toContain((down as { code: string }).code);

  await rabbit.start();
  const restarted = Date.now();
  await until(
    () => outcomes.some((o) => o.ok && o.at >= restarted),
    "calls to succeed again",
    10_000,
  );
  const recovered = Date.now() - restarted;
  running = false;
  await Promise.all(loops);

  const failures = outcomes.filter((o) => !o.ok);
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  // When each kind of failure happened, in ms since the stop began: a timeline for the log.
  const kinds = new Map<string, number[]>();
  for (const o of failures) {
    const kind = [o.error?.code, o.error?.cause].filter(Boolean).join("/");
    kinds.set(kind, [...(kinds.get(kind) ?? []), o.at - stopping]);
  }
  const timeline = [...kinds].map(([k, at]) => `${k} x${at.length} @${at[0]}..${at.at(-1)}`);
  console.info(
    `restart: stopped at +${stopped - stopping} ms, started at +${restarted - stopping} ms, ` +
      `calls succeed ${recovered} ms after start; ${outcomes.length} calls, slowest ${slowest} ms; ` +
      `failures: ${timeline.join("; ")}`,
  );
  expect(failures.map((o) => o.error?.cause)).toContain("TRANSPORTER_NOT_CONNECTED");
  // Nothing hangs: every call settled within its deadline (plus timer slack)...
  expect(slowest).toBeLessThanOrEqual(CALL_TIMEOUT + MARGIN);
  // ...and every failure says the call may be tried again.
  expect(failures.filter((o) => o.error?.retryable !== true)).toEqual([]);
  expect(recovered).toBeLessThan(5_000);

  // The durable queue and its persistent message survived the restart.
  const back = transporter(lib, rabbit.port);
  const probe = new Probe("back", namespace);
  await back.connect(probe.context());
  await back.subscribe("kept", "keepers", { durable: true });
  await probe.until(() => probe.received.length === 1, "the message kept across the restart");
  expect(probe.texts("kept")).toEqual(["survived"]);
}, 60_000);

function transporter(lib: AmqpLib, port: number): AmqpTransporter {
  const t = new AmqpTransporter(lib, { hosts: [{ host: "127.0.0.1", port }] });
  transporters.push(t);
  return t;
}

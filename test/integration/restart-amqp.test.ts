import type { ServiceBroker } from "flotilla";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type AmqpLib, AmqpTransporter, loadAmqplib } from "../../src/transporters/amqp/index.js";
import { PrivateServer, until } from "../harness/index.js";
import { bytes, Probe } from "../transporters/helpers.js";
import { CallLoop, pairOn } from "./broker-restart.js";

// Stops and starts a private RabbitMQ node (its own name, port and data; the shared server on
// 5672 is never touched) while two Flotilla nodes call each other through it.
const CALL_TIMEOUT = 1000;
/** How late past its timeout a call may settle: timer and event-loop slack. */
const MARGIN = 500;

let rabbit: PrivateServer | undefined;
const brokers: ServiceBroker[] = [];
const transporters: AmqpTransporter[] = [];

beforeAll(async () => {
  rabbit = await PrivateServer.start("rabbitmq");
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([
    ...brokers.map((b) => b.stop()),
    ...transporters.map((t) => t.disconnect()),
  ]);
  await rabbit?.cleanup();
}, 60_000);

it("keeps calling through a broker restart: fails fast and retryably while down, recovers within seconds", async () => {
  if (rabbit === undefined) throw new Error("no private RabbitMQ");
  const { caller, namespace } = await pairOn(
    rabbit,
    {
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
    },
    brokers,
  );

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
  const loop = new CallLoop(() => caller.call("echo.say", {}, { timeout: CALL_TIMEOUT }), 8);
  const outcomes = loop.records;
  await until(() => outcomes.filter((o) => !o.error).length >= 100, {
    timeout: 10_000,
    message: "calls to flow",
  });

  const stopping = Date.now();
  await rabbit.stop();
  const stopped = Date.now();
  await until(() => caller.health().transporter?.connected === false, {
    message: "the caller to notice",
  });

  // While down: a call fails at once, with a retryable 503: its send was refused because the
  // transporter is not connected (or, once enough calls failed so, the circuit breaker is open);
  // it never waits for its deadline (that would be REQUEST_TIMEOUT).
  const down = (await caller
    .call("echo.say", {}, { timeout: CALL_TIMEOUT })
    .catch((e: unknown) => e)) as { code?: string };
  expect(down).toMatchObject({ retryable: true, status: 503 });
  if (down.code !== "CIRCUIT_OPEN") {
    expect(down).toMatchObject({
      code: "SERVICE_NOT_AVAILABLE",
      cause: { code: "TRANSPORTER_NOT_CONNECTED" },
    });
  }

  await rabbit.start();
  const restarted = Date.now();
  await until(() => loop.since(restarted).some((o) => !o.error), {
    timeout: 10_000,
    message: "calls to succeed again",
  });
  const recovered = Date.now() - restarted;
  await loop.stop();

  const failures = outcomes.filter((o) => o.error);
  const slowest = Math.max(...outcomes.map((o) => o.settled - o.started));
  // When each kind of failure happened, in ms since the stop began: a timeline for the log.
  const kinds = new Map<string, number[]>();
  for (const o of failures) {
    const kind = [o.error?.code, o.error?.cause].filter(Boolean).join("/");
    kinds.set(kind, [...(kinds.get(kind) ?? []), o.started - stopping]);
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

// Remote call throughput over RabbitMQ between two processes on this machine, 1 and 64 calls in
// flight, in one run: raw amqplib RPC with direct reply-to (the floor; plain, and with its frames
// coalesced into one socket write per pass as amqp:// does), Moleculer's AMQP transporter with its
// defaults and tuned, and Flotilla's amqp:// with its defaults.
// Run: node --import tsx bench/remote-call/amqp.ts   (results in bench/results/remote-call-amqp.json)
// Needs RabbitMQ on 127.0.0.1:5672 (guest/guest). BENCH_MS: ms per window (default 3000);
// BENCH_ROUNDS: interleaved rounds, each row reports its median (default 3).
//
// This file is also the server side: `amqp.ts server <kind> <name> [options-json]` in a child.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import amqplib from "amqplib";
import { type Row, report } from "../lib.js";

const URL_ = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const params = { a: 1, b: 2 };
/** Moleculer's transporter option; `{ url }` alone is what its string form means (all defaults). */
type MoleculerTransporter = { type: "AMQP"; options: Record<string, unknown> };

const RAW = "raw amqplib, direct reply-to (floor)";
const RAW_CORKED = "raw amqplib, direct reply-to, writes coalesced";
const MOL_DEFAULTS = "moleculer AMQP (defaults)";
const MOL_TUNED = "moleculer AMQP (tuned: noDelay, prefetch 64)";
const FLOTILLA = "flotilla amqp:// (defaults)";

const [, , role, kind, name, extra] = process.argv;
if (role === "server") await serve(kind ?? "", name ?? "", extra);
else await main();

// ---------------------------------------------------------------- server side (child process)

async function serve(kind: string, name: string, extra: string | undefined): Promise<void> {
  if (kind === "raw" || kind === "raw-corked") {
    const conn = await amqplib.connect(URL_, { noDelay: true });
    if (kind === "raw-corked") coalesce(conn);
    const ch = await conn.createChannel();
    await ch.assertQueue(name, { exclusive: true, autoDelete: true, durable: false });
    await ch.consume(
      name,
      (msg) => {
        if (msg === null) return;
        const p = JSON.parse(msg.content.toString()) as { a: number; b: number };
        const { replyTo, correlationId } = msg.properties;
        ch.sendToQueue(replyTo, Buffer.from(JSON.stringify(p.a + p.b)), { correlationId });
      },
      { noAck: true },
    );
  } else if (kind === "moleculer") {
    const { ServiceBroker } = await import("moleculer");
    const broker = new ServiceBroker({
      nodeID: "m-server",
      namespace: name,
      logger: false,
      transporter: JSON.parse(extra ?? "null") as MoleculerTransporter,
    });
    broker.createService({
      name: "math",
      actions: {
        add: {
          handler: (ctx: { params: { a: number; b: number } }) => ctx.params.a + ctx.params.b,
        },
      },
    });
    await broker.start();
  } else if (kind === "flotilla") {
    const { defineService, ServiceBroker } = await import("flotilla");
    const broker = new ServiceBroker({
      nodeID: "f-server",
      namespace: name,
      logger: false,
      transporter: URL_,
    });
    broker.createService(
      defineService({
        name: "math",
        actions: { add: { handler: (ctx) => (ctx.params.a as number) + (ctx.params.b as number) } },
      }),
    );
    await broker.start();
  }
  console.log("ready");
}

// ---------------------------------------------------------------- client side

/** One contender: a label and a call to time (after its server and client are up). */
interface Contender {
  label: string;
  call: () => Promise<unknown>;
  close: () => Promise<void>;
}

async function main(): Promise<void> {
  const ms = Number(process.env.BENCH_MS ?? 3000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const run = `bench-${process.pid}`;
  const servers: ChildProcess[] = [];
  const start = async (kind: string, name: string, extra = "") => {
    const script = fileURLToPath(import.meta.url);
    const args = ["--import", "tsx", script, "server", kind, name, extra];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    servers.push(child);
    const [line] = (await once(child.stdout!, "data")) as [Buffer];
    if (!line.toString().startsWith("ready")) throw new Error(`${kind} server failed: ${line}`);
    return child;
  };
  const moleculer = async (label: string, ns: string, options: Record<string, unknown>) => {
    const transporter: MoleculerTransporter = { type: "AMQP", options };
    const server = await start("moleculer", ns, JSON.stringify(transporter));
    const { ServiceBroker } = await import("moleculer");
    const client = new ServiceBroker({
      nodeID: "m-client",
      namespace: ns,
      logger: false,
      transporter,
    });
    await client.start();
    await client.waitForServices("math", 10_000);
    const close = async () => {
      await client.stop();
      // The server goes first: a live Moleculer node declares its exchanges again.
      if (server.exitCode === null) {
        server.kill();
        await once(server, "exit");
      }
      await cleanMoleculer(ns);
    };
    return { label, call: () => client.call("math.add", params), close };
  };

  const samples = new Map<string, number[]>();
  const add = (label: string, inFlight: number, opsPerSec: number) => {
    const key = `${label} | in-flight ${inFlight}`;
    samples.set(key, [...(samples.get(key) ?? []), opsPerSec]);
    console.log(`  ${label.padEnd(46)} ${String(inFlight).padStart(3)}  ${opsPerSec} ops/s`);
  };
  const contenders: Contender[] = [];
  try {
    // (a) raw amqplib: request to the server's queue, answer through direct reply-to.
    await start("raw", `${run}-raw`);
    contenders.push({ label: RAW, ...(await rawClient(`${run}-raw`, false)) });
    // The same with amqplib's frames corked into one write per pass, as Flotilla does: what is
    // left between this row and Flotilla's is Flotilla's own cost.
    await start("raw-corked", `${run}-rawc`);
    contenders.push({ label: RAW_CORKED, ...(await rawClient(`${run}-rawc`, true)) });
    // (b) Moleculer with its defaults: amqplib's default socket (Nagle on), prefetch 1.
    const defaults = await moleculer(MOL_DEFAULTS, `${run}-mdef`, { url: URL_ });
    // (c) Moleculer tuned: TCP no-delay, and a prefetch that lets 64 calls run at once.
    const tuned = { url: URL_, socketOptions: { noDelay: true }, prefetch: 64 };
    contenders.push(await moleculer(MOL_TUNED, `${run}-mtun`, tuned));
    // (d) Flotilla amqp:// with its defaults.
    const ns = `${run}-flo`;
    await start("flotilla", ns);
    const { ServiceBroker } = await import("flotilla");
    const flo = new ServiceBroker({
      nodeID: "f-client",
      namespace: ns,
      logger: false,
      transporter: URL_,
    });
    await flo.start();
    await flo.waitForServices("math", 10_000);
    contenders.push({
      label: FLOTILLA,
      call: () => flo.call("math.add", params),
      close: () => flo.stop(),
    });

    // Moleculer's defaults manage tens of calls per second: one short window each is enough.
    for (const n of [1, 64])
      add(defaults.label, n, await measureCalls(defaults.call, n, Math.min(ms, 2000)));
    await defaults.close();
    // The others take turns, round after round; each row reports its median, so a burst of
    // noise on this shared machine does not decide a comparison.
    for (let r = 0; r < rounds; r++) {
      for (const n of [1, 64])
        for (const c of contenders) add(c.label, n, await measureCalls(c.call, n, ms));
    }
  } finally {
    for (const c of contenders) await c.close().catch(() => undefined);
    for (const child of servers) child.kill();
  }

  const rows: Row[] = [];
  for (const label of [RAW, RAW_CORKED, MOL_DEFAULTS, MOL_TUNED, FLOTILLA]) {
    for (const n of [1, 64])
      rows.push({
        name: label,
        inFlight: n,
        opsPerSec: median(samples.get(`${label} | in-flight ${n}`) ?? []),
      });
  }
  const pick = (label: string, n: number) =>
    rows.find((r) => r.name === label && r.inFlight === n)?.opsPerSec ?? 0;
  const ratio = (a: number, b: number) => (b === 0 ? null : +(a / b).toFixed(2));
  const ratios = Object.fromEntries(
    [1, 64].map((n) => [
      `inFlight${n}`,
      {
        flotillaVsFloor: ratio(pick(FLOTILLA, n), pick(RAW, n)),
        flotillaVsCorkedFloor: ratio(pick(FLOTILLA, n), pick(RAW_CORKED, n)),
        flotillaVsMoleculerDefaults: ratio(pick(FLOTILLA, n), pick(MOL_DEFAULTS, n)),
        flotillaVsMoleculerTuned: ratio(pick(FLOTILLA, n), pick(MOL_TUNED, n)),
      },
    ]),
  );
  console.log(ratios);
  const method = `median of ${rounds} interleaved ${ms} ms windows per row (Moleculer defaults: one window of ${Math.min(ms, 2000)} ms)`;
  report("remote-call-amqp", rows, { ratios, method, samples: Object.fromEntries(samples) });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] ?? 0)
    : Math.round(((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2);
}

/** A raw amqplib RPC client: one reply consumer on direct reply-to, calls matched by id. */
async function rawClient(queue: string, corked: boolean) {
  const conn = await amqplib.connect(URL_, { noDelay: true });
  if (corked) coalesce(conn);
  const ch = await conn.createChannel();
  const waiting = new Map<string, (v: number) => void>();
  await ch.consume(
    "amq.rabbitmq.reply-to",
    (msg) => {
      const id = msg?.properties.correlationId as string | undefined;
      if (msg === null || id === undefined) return;
      waiting.get(id)?.(JSON.parse(msg.content.toString()) as number);
      waiting.delete(id);
    },
    { noAck: true },
  );
  let seq = 0;
  return {
    call: () =>
      new Promise<number>((resolve) => {
        const correlationId = (seq++).toString(36);
        waiting.set(correlationId, resolve);
        ch.sendToQueue(queue, Buffer.from(JSON.stringify(params)), {
          replyTo: "amq.rabbitmq.reply-to",
          correlationId,
        });
      }),
    close: () => conn.close(),
  };
}

/**
 * Completed calls per second with `inFlight` loops for `ms` (after a warm-up). Unlike `measure`
 * in bench/lib.ts, which reads the clock every 256 ops per loop (at 64 loops its counts come in
 * steps of 16,384 calls, too coarse for calls that take 0.1-50 ms), it reads the clock after
 * every call and divides by the time actually taken.
 */
async function measureCalls(
  op: () => Promise<unknown>,
  inFlight: number,
  ms: number,
): Promise<number> {
  const runFor = async (window: number) => {
    const end = performance.now() + window;
    let count = 0;
    const loop = async () => {
      while (performance.now() < end) {
        await op();
        count++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, loop));
    return count;
  };
  await runFor(Math.min(500, ms / 4));
  const started = performance.now();
  const count = await runFor(ms);
  // The last calls may finish after the window: divide by the time actually taken.
  return Math.round((count * 1000) / (performance.now() - started));
}

/** Deletes what Moleculer declared for namespace `ns`: its queues and exchanges outlive it. */
async function cleanMoleculer(ns: string): Promise<void> {
  const prefix = `MOL-${ns}`;
  const cmds = [
    "REQ",
    "RES",
    "EVENT",
    "DISCOVER",
    "INFO",
    "HEARTBEAT",
    "DISCONNECT",
    "PING",
    "PONG",
  ];
  const queues = [`${prefix}.REQB.math.add`];
  for (const node of ["m-client", "m-server"])
    for (const c of cmds) queues.push(`${prefix}.${c}.${node}`);
  const conn = await amqplib.connect(URL_);
  for (const [kind, names] of [
    ["queue", queues],
    ["exchange", cmds.map((c) => `${prefix}.${c}`)],
  ] as const) {
    for (const n of names) {
      // One channel per delete: a refused delete closes its channel.
      const ch = await conn.createChannel();
      ch.on("error", () => undefined);
      await (kind === "queue" ? ch.deleteQueue(n) : ch.deleteExchange(n)).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
  }
  await conn.close();
}

/** Corks the socket around each pass of amqplib's frame multiplexer (what amqp:// does). */
function coalesce(conn: amqplib.ChannelModel): void {
  const c = conn.connection as unknown as {
    muxer: { _readIncoming: () => void };
    stream: { cork(): void; uncork(): void };
  };
  const pass = c.muxer._readIncoming.bind(c.muxer);
  c.muxer._readIncoming = () => {
    c.stream.cork();
    pass();
    c.stream.uncork();
  };
}

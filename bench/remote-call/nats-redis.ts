// Remote call throughput through a real broker, 1 and 64 calls in flight, per broker in one run:
//   raw        the plain client: request/reply over pub/sub with a correlation id (the floor)
//   moleculer  Moleculer 0.15 with its NATS / Redis transporter
//   flotilla   Flotilla with nats:// / redis://
// Every server side runs in a child process (this file, `serve <kind> <broker> <namespace>`).
// Needs NATS on 127.0.0.1:4222 and Redis on 127.0.0.1:6379 (bash .ci/services.sh).
// Run: node --import tsx bench/remote-call/nats-redis.ts
//   (BENCH_MS=5000 per measurement, BENCH_ROUNDS=3 rounds (medians), BENCH_BROKER=nats|redis for
//   one broker only; results in bench/results/remote-call-{nats,redis}.json)
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { BrokerOptions as MoleculerOptions } from "moleculer";
import { measure, type Row, report } from "../lib.js";

type Broker = "nats" | "redis";
type Kind = "raw" | "moleculer" | "flotilla";

const URLS: Record<Broker, string> = {
  nats: "nats://127.0.0.1:4222",
  redis: "redis://127.0.0.1:6379",
};
const params = { a: 1, b: 2 };

/** One end of request/reply over plain pub/sub (JSON bodies with a correlation id). */
interface RawEnd {
  /** Publishes `body` to `subject` (a NATS subject or a Redis channel). */
  send(subject: string, body: string): void;
  /** Calls `onMessage` with every body published to `subject`; resolves once subscribed. */
  listen(subject: string, onMessage: (body: string) => void): Promise<void>;
  close(): Promise<void>;
}

async function rawNats(): Promise<RawEnd> {
  const { connect } = await import("@nats-io/transport-node");
  const nc = await connect({ servers: "127.0.0.1:4222" });
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return {
    send: (subject, body) => nc.publish(subject, encoder.encode(body)),
    listen: async (subject, onMessage) => {
      nc.subscribe(subject, { callback: (_err, msg) => onMessage(decoder.decode(msg.data)) });
      await nc.flush();
    },
    close: () => nc.drain(),
  };
}

async function rawRedis(): Promise<RawEnd> {
  const { Redis } = await import("ioredis");
  const pub = new Redis(6379, "127.0.0.1");
  const sub = new Redis(6379, "127.0.0.1");
  return {
    send: (channel, body) => void pub.publish(channel, body),
    listen: async (channel, onMessage) => {
      sub.on("messageBuffer", (_channel: Buffer, message: Buffer) => onMessage(message.toString()));
      await sub.subscribe(channel);
    },
    close: async () => {
      await Promise.all([pub.quit(), sub.quit()]);
    },
  };
}

const rawEnd = (broker: Broker) => (broker === "nats" ? rawNats() : rawRedis());

/** The server side of one measurement, in this (child) process; prints "ready" once it serves. */
async function serve(kind: Kind, broker: Broker, ns: string): Promise<void> {
  if (kind === "raw") {
    const end = await rawEnd(broker);
    await end.listen(`bench.${ns}.req`, (body) => {
      const req = JSON.parse(body) as { id: number; reply: string; params: typeof params };
      end.send(req.reply, JSON.stringify({ id: req.id, result: req.params.a + req.params.b }));
    });
  } else if (kind === "moleculer") {
    const { ServiceBroker } = await import("moleculer");
    const node = new ServiceBroker({
      nodeID: "m-server",
      namespace: ns,
      logger: false,
      transporter: URLS[broker] as MoleculerOptions["transporter"],
    });
    node.createService({
      name: "math",
      actions: { add: (ctx: { params: typeof params }) => ctx.params.a + ctx.params.b },
    });
    await node.start();
  } else {
    const { defineService, ServiceBroker } = await import("flotilla");
    const node = new ServiceBroker({
      nodeID: "f-server",
      namespace: ns,
      logger: false,
      transporter: URLS[broker],
    });
    node.createService(
      defineService({
        name: "math",
        actions: {
          add: { handler: (ctx) => (ctx.params.a as number) + (ctx.params.b as number) },
        },
      }),
    );
    await node.start();
  }
  console.log("ready");
}

/** The calling side of one measurement: a `call()` to measure and a `close()`. */
async function client(kind: Kind, broker: Broker, ns: string) {
  if (kind === "raw") {
    const end = await rawEnd(broker);
    const reply = `bench.${ns}.reply`;
    const waiting = new Map<number, (result: number) => void>();
    let seq = 0;
    await end.listen(reply, (body) => {
      const res = JSON.parse(body) as { id: number; result: number };
      waiting.get(res.id)?.(res.result);
      waiting.delete(res.id);
    });
    return {
      call: () =>
        new Promise<number>((resolve) => {
          const id = seq++;
          waiting.set(id, resolve);
          end.send(`bench.${ns}.req`, JSON.stringify({ id, reply, params }));
        }),
      close: () => end.close(),
    };
  }
  if (kind === "moleculer") {
    const { ServiceBroker } = await import("moleculer");
    const node = new ServiceBroker({
      nodeID: "m-client",
      namespace: ns,
      logger: false,
      transporter: URLS[broker] as MoleculerOptions["transporter"],
    });
    await node.start();
    await node.waitForServices("math", 10_000);
    return { call: () => node.call("math.add", params), close: () => node.stop() };
  }
  const { ServiceBroker } = await import("flotilla");
  const node = new ServiceBroker({
    nodeID: "f-client",
    namespace: ns,
    logger: false,
    transporter: URLS[broker],
  });
  await node.start();
  await node.waitForServices("math", 10_000);
  return { call: () => node.call("math.add", params), close: () => node.stop() };
}

const script = fileURLToPath(import.meta.url);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] ?? 0)
    : Math.round(((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2);
}

/** Starts the server side in a child process and waits for its "ready". */
async function startServer(kind: Kind, broker: Broker, ns: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", script, "serve", kind, broker, ns], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  if (!line.toString().startsWith("ready")) throw new Error(`${kind} ${broker} server: ${line}`);
  return child;
}

const LABELS: Record<Kind, (broker: Broker) => string> = {
  raw: (b) =>
    b === "nats" ? "raw @nats-io/transport-node (floor)" : "raw ioredis pub/sub (floor)",
  moleculer: (b) => `moleculer ${b === "nats" ? "NATS (nats@2)" : "Redis (ioredis)"}`,
  flotilla: (b) => `flotilla ${b}://`,
};

/**
 * Measures the three kinds for one broker. The kinds take turns for `rounds` rounds and each row
 * is the median of its rounds: on a small shared machine, load from elsewhere then hits every
 * kind alike instead of whichever happened to run at the wrong moment.
 */
async function benchBroker(broker: Broker, ms: number, rounds: number): Promise<void> {
  const samples = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const kind of ["raw", "moleculer", "flotilla"] as const) {
      // A namespace of its own per run, round and kind: nothing meets another measurement.
      const ns = `bench-${broker}-${kind}-${process.pid}-${round}-${Date.now().toString(36)}`;
      const server = await startServer(kind, broker, ns);
      try {
        const c = await client(kind, broker, ns);
        for (const n of [1, 64]) {
          const key = `${kind}@${n}`;
          samples.set(key, [...(samples.get(key) ?? []), await measure(c.call, n, ms)]);
        }
        await c.close();
      } finally {
        server.kill();
      }
    }
  }
  const rows: Row[] = [];
  for (const kind of ["raw", "moleculer", "flotilla"] as const) {
    for (const n of [1, 64]) {
      rows.push({
        name: LABELS[kind](broker),
        inFlight: n,
        opsPerSec: median(samples.get(`${kind}@${n}`) ?? []),
      });
    }
  }
  const pick = (kind: Kind, n: number) =>
    rows.find((r) => r.name === LABELS[kind](broker) && r.inFlight === n)?.opsPerSec ?? 0;
  const ratios = Object.fromEntries(
    [1, 64].map((n) => [
      `inFlight${n}`,
      {
        flotillaVsRaw: +(pick("flotilla", n) / pick("raw", n)).toFixed(2),
        flotillaVsMoleculer: +(pick("flotilla", n) / pick("moleculer", n)).toFixed(2),
      },
    ]),
  );
  console.log(ratios);
  report(`remote-call-${broker}`, rows, {
    ratios,
    rounds,
    msPerMeasurement: ms,
    samples: Object.fromEntries(samples),
    command: "node --import tsx bench/remote-call/nats-redis.ts",
  });
}

const [mode, kind, broker, ns] = process.argv.slice(2);
if (mode === "serve") {
  await serve(kind as Kind, broker as Broker, ns ?? "bench");
} else {
  const ms = Number(process.env.BENCH_MS ?? 5000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const only = process.env.BENCH_BROKER as Broker | undefined;
  for (const b of ["nats", "redis"] as const)
    if (only === undefined || only === b) await benchBroker(b, ms, rounds);
  // Moleculer and the clients may leave timers behind; the results are written.
  process.exit(0);
}

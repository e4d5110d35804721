// One instance of `orders` (orders.ts) in a process of its own, for the fault tests of the data
// layer: it is killed with SIGKILL, started four at a time, or run three side by side.
//
// Environment: DB_URL (postgres://… or sqlite:/abs/file), DB_SCHEMA (PostgreSQL), NODE_ID,
// NAMESPACE, TRANSPORTER (a message broker URL; none: no transporter), RELAY (`off`: only write
// the outbox), LEASE and POLL (outbox lease and poll interval, ms), GATE=1 (load, then wait for a
// line `go [COUNT [BASE [RELAY]]]` on stdin, whose values replace the environment's), WORK
// (`place`: COUNT transactions with sequence numbers BASE+0, BASE+1, …; `next`: COUNT
// transactions numbered by the `counter` table; unset: none), KEYS (outbox keys, comma-separated:
// see orders.ts), CONCURRENCY (transactions in flight), LOG_LEVEL (`warn`, `debug`: the node's
// logs, as JSON lines among the others).
//
// Says on stdout: `loaded` (every module in, waiting at the gate), `ready` (started), `c <seq>`
// after each commit, `done` after COUNT commits, `failed <code> <message>` for a transaction that
// threw (it is tried again). A start that fails ends the process with code 1 and
// `start-failed <code> <message>`. SIGTERM stops the node gracefully.
//
// Run: DB_URL=sqlite:/tmp/x.sqlite NODE_ID=a WORK=place COUNT=10 node --import tsx test/data/faults/instance.ts
import { createInterface } from "node:readline";
import { ServiceBroker } from "../../../src/broker/broker.js";
import { ordersService } from "./orders.js";

const env = process.env;
const url = env.DB_URL;
const node = env.NODE_ID;
if (url === undefined || node === undefined) throw new Error("DB_URL and NODE_ID must be set");
const say = (line: string) => process.stdout.write(`${line}\n`);
const transporter = env.TRANSPORTER || undefined;

// What the start loads on demand, loaded now: behind a gate, the start itself is then quick.
await import("../../../src/data/database.js");
await (url.startsWith("sqlite:") ? import("better-sqlite3") : import("pg"));
if (transporter?.startsWith("amqp:")) await import("amqplib");
if (transporter?.startsWith("nats:")) await import("@nats-io/transport-node");

let count = Number(env.COUNT ?? 0);
let base = Number(env.BASE ?? 0);
let relay = env.RELAY !== "off";
say("loaded");
if (env.GATE === "1") {
  const input = createInterface({ input: process.stdin });
  const words = await new Promise<string[]>((resolve) => {
    input.on("line", (l) => {
      const w = l.trim().split(/\s+/);
      if (w[0] === "go") resolve(w);
    });
  });
  input.close();
  if (words[1] !== undefined) count = Number(words[1]);
  if (words[2] !== undefined) base = Number(words[2]);
  if (words[3] !== undefined) relay = words[3] !== "off";
}

const broker = new ServiceBroker({
  nodeID: node,
  namespace: env.NAMESPACE ?? "",
  logger: env.LOG_LEVEL === "debug" || env.LOG_LEVEL === "warn" ? { level: env.LOG_LEVEL } : false,
  transporter,
  // Killed peers stay in the registry a while: nothing here calls them.
  heartbeatTimeout: 60_000,
});
broker.createService(
  ordersService({
    url,
    schema: env.DB_SCHEMA || undefined,
    node,
    outbox: {
      relay,
      lease: Number(env.LEASE ?? 30_000),
      pollInterval: Number(env.POLL ?? 1_000),
    },
  }),
);
process.on("SIGTERM", () => {
  void broker.stop().then(() => process.exit(0));
});

try {
  await broker.start();
} catch (err) {
  const e = err as { code?: string; message?: string };
  say(`start-failed ${e.code ?? "?"} ${String(e.message).replace(/\n/g, " ")}`);
  process.exit(1);
}
say("ready");

const work = env.WORK;
const keys = env.KEYS ? env.KEYS.split(",") : [];
let issued = 0;

/** One transaction, tried again until it commits (a busy file, a lost connection). */
async function commit(seq: number): Promise<number> {
  for (;;) {
    try {
      return work === "next"
        ? ((await broker.call("orders.next", { keys })) as number)
        : ((await broker.call("orders.place", { seq, key: keys[0] })) as number);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      // `place` whose commit went through but whose answer was lost: the row is there.
      if (e.code === "CONFLICT" && work !== "next") return seq;
      say(`failed ${e.code ?? "?"} ${String(e.message).replace(/\n/g, " ")}`);
    }
  }
}

async function worker(): Promise<void> {
  while (issued < count) {
    const seq = base + issued++;
    say(`c ${await commit(seq)}`);
    // As calls that come over the network would: the event loop gets a turn between two
    // transactions. (On SQLite a transaction never waits for I/O: back-to-back ones keep every
    // socket of the process unread, the relay's confirms among them, until the loop ends.)
    await new Promise((resolve) => setImmediate(resolve));
  }
}

if (work === "place" || work === "next") {
  await Promise.all(Array.from({ length: Number(env.CONCURRENCY ?? 1) }, worker));
  say("done");
}

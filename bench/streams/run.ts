// One byte stream between two processes: an upload (a call whose params are a stream; the server
// counts the bytes and answers with the count) and a download (a call whose result is a stream;
// the client counts). Contenders, in the same run, same layout (client in this process, server in
// a child process of its own): a raw `net` socket (the floor: bytes piped one way), Moleculer 0.15's
// streams over its TCP and NATS transporters, and Flotilla over tcp:// and nats://. Rounds
// interleave the contenders; each figure is the median MiB/s of its rounds with the min–max, and
// the peak of `arrayBuffers` in this process (the client side) over the whole run.
// Run: npm run bench:streams   (results in bench/results/streams.json)
//   BENCH_MIB (size of one stream, default 64), BENCH_ROUNDS (default 5), BENCH_PORT (default
//   47201). NATS on 127.0.0.1:4222.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import type { BrokerOptions as MoleculerOptions } from "moleculer";
import { report } from "../lib.js";
import { median } from "../observability.js";

const MIB = 1024 * 1024;
const size = Number(process.env.BENCH_MIB ?? 64) * MIB;
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const basePort = Number(process.env.BENCH_PORT ?? 47201);
const here = fileURLToPath(import.meta.url);
const CONTENDERS = [
  "raw",
  "moleculer-tcp",
  "moleculer-nats",
  "flotilla-tcp",
  "flotilla-nats",
] as const;
type Contender = (typeof CONTENDERS)[number];
const dir = process.env.BENCH_STREAMS_DIR ?? mkdtempSync(join(tmpdir(), "bench-streams-"));
const ports: Record<Contender, number> = {
  raw: basePort,
  "moleculer-tcp": basePort + 2,
  "moleculer-nats": 0,
  "flotilla-tcp": 0,
  "flotilla-nats": 0,
};

/** `total` bytes made on demand from one 256 KiB block. */
function source(total: number): Readable {
  const block = Buffer.alloc(256 * 1024, 7);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(block.length, total - sent);
      sent += n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

async function count(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  return n;
}

/** What one contender's client does: an upload and a download of `bytes`. */
interface Client {
  upload(bytes: number): Promise<number>;
  download(bytes: number): Promise<number>;
  stop(): Promise<void>;
}

const server = process.env.BENCH_STREAM_SERVER as Contender | undefined;
if (server !== undefined) await serve(server);
else await parent();

async function serve(contender: Contender): Promise<void> {
  if (contender === "raw") {
    // Port: upload (count what comes, answer the count); port + 1: download (send N bytes).
    const up = createServer((socket) => {
      let n = 0;
      socket.on("data", (chunk: Buffer) => {
        n += chunk.length;
      });
      socket.on("end", () => socket.end(String(n)));
    });
    const down = createServer((socket) => {
      socket.once("data", (chunk: Buffer) => {
        void pipeline(source(Number(chunk.toString())), socket).catch(() => {});
      });
    });
    up.listen(ports.raw, "127.0.0.1");
    down.listen(ports.raw + 1, "127.0.0.1");
    await Promise.all([once(up, "listening"), once(down, "listening")]);
  } else if (contender.startsWith("moleculer")) {
    const { ServiceBroker } = await import("moleculer");
    const broker = new ServiceBroker({
      nodeID: "m-server",
      namespace: `bench-streams-${contender}`,
      logger: false,
      transporter: moleculerTransporter(contender, "server"),
    });
    broker.createService({
      name: "files",
      actions: {
        // Moleculer 0.15 passes a stream beside the params: `ctx.stream`.
        upload: {
          handler: (ctx: { stream: unknown }) => count(ctx.stream as AsyncIterable<Uint8Array>),
        },
        download: { handler: (ctx: { params: { bytes: number } }) => source(ctx.params.bytes) },
      },
    });
    await broker.start();
  } else {
    const { ServiceBroker, defineService } = await import("../../dist/index.js");
    const broker = new ServiceBroker({
      nodeID: "f-server",
      namespace: `bench-streams-${contender}`,
      logger: false,
      transporter: flotillaTransporter(contender),
      requestTimeout: 600_000,
    });
    broker.createService(
      defineService({
        name: "files",
        actions: {
          upload: {
            handler: (ctx) => count(ctx.params as unknown as AsyncIterable<Uint8Array>),
          },
          download: { handler: (ctx) => source((ctx.params as { bytes: number }).bytes) },
        },
      }),
    );
    await broker.start();
    process.on("SIGTERM", () => void broker.stop().finally(() => process.exit(0)));
  }
  process.stdout.write("ready\n");
}

function moleculerTransporter(
  contender: Contender,
  side: "server" | "client",
): MoleculerOptions["transporter"] {
  if (contender === "moleculer-nats")
    return "nats://127.0.0.1:4222" as MoleculerOptions["transporter"];
  const port = ports["moleculer-tcp"];
  const [mine, theirs, other] =
    side === "server" ? [port, port + 1, "m-client"] : [port + 1, port, "m-server"];
  return {
    type: "TCP",
    options: { udpDiscovery: false, port: mine, urls: `127.0.0.1:${theirs}/${other}` },
  };
}

function flotillaTransporter(contender: Contender): string {
  return contender === "flotilla-nats"
    ? "nats://127.0.0.1:4222"
    : `tcp://?dir=${encodeURIComponent(dir)}&udp=false`;
}

async function startServer(contender: Contender): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", here], {
    env: { ...process.env, BENCH_STREAM_SERVER: contender, BENCH_STREAMS_DIR: dir },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let seen = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    seen += chunk.toString();
  });
  while (!seen.includes("ready")) {
    const [code] = await Promise.race([once(child.stdout!, "data"), once(child, "exit")]);
    if (typeof code === "number") throw new Error(`${contender} server exited (${code})`);
  }
  return child;
}

async function client(contender: Contender): Promise<Client> {
  if (contender === "raw") {
    return {
      async upload(bytes) {
        const socket = connect(ports.raw, "127.0.0.1");
        await once(socket, "connect");
        const answer = count(socket);
        await pipeline(source(bytes), socket);
        await answer;
        return bytes;
      },
      async download(bytes) {
        const socket = connect(ports.raw + 1, "127.0.0.1");
        await once(socket, "connect");
        socket.write(String(bytes));
        return count(socket);
      },
      stop: async () => {},
    };
  }
  if (contender.startsWith("moleculer")) {
    const { ServiceBroker } = await import("moleculer");
    const broker = new ServiceBroker({
      nodeID: "m-client",
      namespace: `bench-streams-${contender}`,
      logger: false,
      transporter: moleculerTransporter(contender, "client"),
      requestTimeout: 600_000,
    });
    await broker.start();
    await broker.waitForServices(["files"]);
    return {
      upload: async (bytes) =>
        (await broker.call("files.upload", {}, { stream: source(bytes) })) as number,
      download: async (bytes) =>
        count((await broker.call("files.download", { bytes })) as AsyncIterable<Uint8Array>),
      stop: () => broker.stop(),
    };
  }
  const { ServiceBroker } = await import("../../dist/index.js");
  const broker = new ServiceBroker({
    nodeID: "f-client",
    namespace: `bench-streams-${contender}`,
    logger: false,
    transporter: flotillaTransporter(contender),
    requestTimeout: 600_000,
  });
  await broker.start();
  await broker.waitForServices(["files"], 30_000);
  return {
    upload: async (bytes) => (await broker.call("files.upload", source(bytes))) as number,
    download: async (bytes) =>
      count((await broker.call("files.download", { bytes })) as AsyncIterable<Uint8Array>),
    stop: () => broker.stop(),
  };
}

async function parent(): Promise<void> {
  const children: ChildProcess[] = [];
  const clients = new Map<Contender, Client>();
  const figures = new Map<string, number[]>();
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
  }, 50);
  try {
    for (const contender of CONTENDERS) {
      children.push(await startServer(contender));
      clients.set(contender, await client(contender));
    }
    for (let round = 0; round < rounds; round++) {
      for (const contender of CONTENDERS) {
        const c = clients.get(contender)!;
        for (const way of ["upload", "download"] as const) {
          const started = performance.now();
          const got = await c[way](size);
          if (got !== size) throw new Error(`${contender} ${way}: ${got} of ${size} bytes`);
          const mibs = size / MIB / ((performance.now() - started) / 1000);
          const key = `${contender} ${way}`;
          figures.set(key, [...(figures.get(key) ?? []), mibs]);
          console.log(`round ${round + 1} ${key.padEnd(26)} ${mibs.toFixed(0)} MiB/s`);
        }
      }
    }
  } finally {
    clearInterval(sampler);
    for (const c of clients.values()) await c.stop().catch(() => {});
    for (const child of children) child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = [...figures].map(([name, values]) => ({
    name,
    inFlight: 1,
    opsPerSec: Math.round(median(values)),
    min: Math.round(Math.min(...values)),
    max: Math.round(Math.max(...values)),
    rounds: values.map((v) => Math.round(v)),
  }));
  report("streams", rows, {
    unit: "MiB/s (opsPerSec holds the median MiB/s)",
    streamMiB: size / MIB,
    rounds,
    clientPeakArrayBuffersMiB: Math.round(peak / MIB),
    loadavg: loadavg(),
  });
  for (const row of rows) {
    console.log(`${row.name.padEnd(26)} ${row.opsPerSec} MiB/s (${row.min}–${row.max})`);
  }
  process.exit(0);
}

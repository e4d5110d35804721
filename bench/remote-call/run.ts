// Remote call throughput between two processes on this machine, 1 and 64 calls in flight:
// a raw `net` NDJSON request/reply (the floor), Moleculer's TCP transporter, and Flotilla's tcp://,
// in the same run. Run: npm run bench:remote   (results in bench/results/remote-call.json)
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { ServiceBroker as FlotillaBroker } from "flotilla";
import { ServiceBroker as MoleculerBroker } from "moleculer";
import { measure, type Row, report } from "../lib.js";

const ms = Number(process.env.BENCH_MS ?? 3000);
const params = { a: 1, b: 2 };
const servers: ChildProcess[] = [];

async function startServer(kind: string, port: number, extra = ""): Promise<void> {
  const script = fileURLToPath(new URL("./servers.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, kind, String(port), extra], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  servers.push(child);
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  if (!line.toString().startsWith("ready")) throw new Error(`${kind} server failed: ${line}`);
}

async function rawClient(port: number) {
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await once(socket, "connect");
  const waiting = new Map<number, (v: number) => void>();
  let id = 0;
  let buffered = "";
  socket.on("data", (chunk) => {
    buffered += chunk.toString();
    let nl = buffered.indexOf("\n");
    while (nl !== -1) {
      const res = JSON.parse(buffered.slice(0, nl)) as { id: number; result: number };
      waiting.get(res.id)?.(res.result);
      waiting.delete(res.id);
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf("\n");
    }
  });
  return {
    call: () =>
      new Promise<number>((resolve) => {
        const reqId = id++;
        waiting.set(reqId, resolve);
        socket.write(`${JSON.stringify({ id: reqId, action: "math.add", params })}\n`);
      }),
    close: () => socket.destroy(),
  };
}

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const rows: Row[] = [];
try {
  await startServer("raw", 47001);
  const raw = await rawClient(47001);

  await startServer("moleculer", 47002, "47003");
  const mol = new MoleculerBroker({
    nodeID: "m-client",
    logger: false,
    transporter: {
      type: "TCP",
      options: { udpDiscovery: false, port: 47003, urls: "127.0.0.1:47002/m-server" },
    },
  });
  await mol.start();
  await mol.waitForServices("math", 10_000);

  const ns = `bench-${process.pid}`;
  await startServer("flotilla", 47004, ns);
  const flo = new FlotillaBroker({
    nodeID: "f-client",
    namespace: ns,
    logger: false,
    transporter: "tcp://",
  });
  await flo.start();
  await flo.waitForServices("math", 10_000);

  // Rounds interleave the contenders, and each figure is the median of its rounds, so a burst of
  // load from elsewhere on the machine does not decide the comparison.
  const contenders: [string, () => Promise<unknown>][] = [
    ["raw net NDJSON (floor)", raw.call],
    ["moleculer TCP", () => mol.call("math.add", params)],
    ["flotilla tcp://", () => flo.call("math.add", params)],
  ];
  for (const n of [1, 64]) {
    const samples = new Map<string, number[]>();
    for (let r = 0; r < rounds; r++) {
      for (const [name, op] of contenders)
        samples.set(name, [...(samples.get(name) ?? []), await measure(op, n, ms)]);
    }
    for (const [name] of contenders)
      rows.push({ name, inFlight: n, opsPerSec: median(samples.get(name) ?? []) });
  }
  raw.close();
  await mol.stop();
  await flo.stop();
} finally {
  for (const child of servers) child.kill();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const pick = (name: string, n: number) =>
  rows.find((r) => r.name === name && r.inFlight === n)?.opsPerSec ?? 0;
const ratios = Object.fromEntries(
  [1, 64].map((n) => [
    `inFlight${n}`,
    {
      flotillaVsFloor: +(pick("flotilla tcp://", n) / pick("raw net NDJSON (floor)", n)).toFixed(2),
      flotillaVsMoleculer: +(pick("flotilla tcp://", n) / pick("moleculer TCP", n)).toFixed(2),
    },
  ]),
);
console.log(ratios);
report("remote-call", rows, { ratios });

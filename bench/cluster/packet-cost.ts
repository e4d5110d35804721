// What one discovery packet costs the node that receives it, by how many nodes it knows
// already: one process, one receiving broker, packets fed straight into its transporter's
// receive path (decode, checks, registry), no network. The cluster run (run.ts) shows the
// totals; this shows where they come from, on a machine too busy for clean wall-clock figures
// (CPU time is counted, not elapsed time).
// - INFO: a node re-announces itself (same instance, next seq), as the 2-3 copies of each node's
//   INFO that a node gets while a cluster converges do; with K known nodes.
// - HEARTBEAT: from a known node.
// Flotilla: a transporter stub hands packets to transit's `onMessage`. Moleculer: its Fake
// transporter's `receive` (deserialize, transit, registry). Both nodes run the cluster bench's
// three services; the INFO fed is the one a real node of the bench sends.
// Run: node --import tsx bench/cluster/packet-cost.ts [--known 50,100,200]
//   (results in bench/results/cluster-packet-cost.json)
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ServiceBroker as FlotillaBroker,
  type Transporter,
  type TransporterContext,
} from "flotilla";
import { type Middleware, ServiceBroker as MoleculerBroker } from "moleculer";
import { median } from "../observability.js";
import { addServices } from "./flotilla-node.js";
import { services } from "./moleculer-node.js";

const i = process.argv.indexOf("--known");
const known = (i >= 0 ? process.argv[i + 1]! : "50,100,200").split(",").map(Number);
const ROUNDS = 5;
/** Re-announcements per measurement: every known node this many times. */
const PASSES = 4;

/** Records what a Flotilla node publishes; `deliver` plays packets into it. */
class Stub implements Transporter {
  readonly capabilities = { balancing: false, durable: false, peerAware: false };
  context: TransporterContext | undefined;
  readonly sent: { topic: string; data: Uint8Array }[] = [];
  async connect(context: TransporterContext) {
    this.context = context;
  }
  async disconnect() {}
  async subscribe() {}
  async publish(topic: string, data: Uint8Array) {
    this.sent.push({ topic, data });
  }
  deliver(topic: string, data: Uint8Array) {
    void this.context!.onMessage(topic, data);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** CPU µs `work` takes per item, median of the rounds (each round a fresh `prepare`). */
async function cpuPerItem(
  prepare: () => Promise<{ work: () => number; done: () => Promise<void> }>,
): Promise<{ median: number; min: number; max: number }> {
  const xs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const { work, done } = await prepare();
    work(); // warm-up pass
    const a = process.cpuUsage();
    const items = work();
    const b = process.cpuUsage(a);
    xs.push((b.user + b.system) / items);
    await done();
  }
  const round = (x: number) => Math.round(x * 10) / 10;
  return { median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)) };
}

async function flotilla(k: number) {
  // The INFO a node of the bench announces itself with.
  const source = new Stub();
  const src = new FlotillaBroker({
    nodeID: "src",
    namespace: "cost",
    logger: false,
    transporter: source,
  });
  addServices(src);
  await src.start();
  // The first INFO goes out before the services have started (it lists none); take the fullest.
  await new Promise((resolve) => setImmediate(resolve));
  const sent = source.sent
    .filter((p) => p.data[2] === 5)
    .reduce((a, b) => (b.data.length > a.data.length ? b : a));
  await src.stop();
  const header = sent.data.subarray(0, 3);
  const body = JSON.parse(dec.decode(sent.data.subarray(3))) as Record<string, unknown>;
  const packet = (type: number, b: unknown) => {
    const json = enc.encode(JSON.stringify(b));
    const out = new Uint8Array(3 + json.length);
    out.set(header);
    out[2] = type;
    out.set(json, 3);
    return out;
  };
  let seq = 1;
  const node = async () => {
    const stub = new Stub();
    const rx = new FlotillaBroker({
      nodeID: "rx",
      namespace: "cost",
      logger: false,
      transporter: stub,
      heartbeatTimeout: 3_600_000,
    });
    addServices(rx);
    await rx.start();
    const announce = () => {
      seq++;
      for (let n = 0; n < k; n++) {
        stub.deliver(sent.topic, packet(5, { ...body, sender: `p${n}`, instanceID: `i${n}`, seq }));
      }
    };
    announce();
    if (rx.registry.remote.nodes.size !== k) throw new Error("flotilla: INFO not taken");
    return { stub, rx, announce };
  };
  const info = await cpuPerItem(async () => {
    const { rx, announce } = await node();
    return {
      work: () => {
        for (let p = 0; p < PASSES; p++) announce();
        return PASSES * k;
      },
      done: () => rx.stop(),
    };
  });
  const beatTopic = sent.topic.replace(/INFO$/, "HEARTBEAT");
  const heartbeat = await cpuPerItem(async () => {
    const { stub, rx } = await node();
    const beats = Array.from({ length: k }, (_, n) =>
      packet(6, { sender: `p${n}`, instanceID: `i${n}`, cpu: 3 }),
    );
    return {
      work: () => {
        for (let p = 0; p < 50; p++) for (const b of beats) stub.deliver(beatTopic, b);
        return 50 * k;
      },
      done: () => rx.stop(),
    };
  });
  return { info, heartbeat, infoBytes: sent.data.length };
}

interface Received {
  transit: { tx: { receive(cmd: string, data: Buffer): unknown } };
}

async function moleculer(k: number) {
  let captured: Buffer | undefined;
  const capture = {
    transporterSend:
      (next: (t: string, d: Buffer, m: { packet?: { type?: string } }) => unknown) =>
      (t: string, d: Buffer, m: { packet?: { type?: string } }) => {
        if (m?.packet?.type === "INFO" && captured === undefined) captured = d;
        return next(t, d, m);
      },
  } as unknown as Middleware;
  const src = new MoleculerBroker({
    nodeID: "src",
    namespace: `cost-src-${k}`,
    logger: false,
    transporter: "Fake",
    middlewares: [capture],
  });
  for (const s of services) src.createService(s);
  await src.start();
  await src.stop();
  const body = JSON.parse(captured!.toString()) as Record<string, unknown>;
  let seq = 1;
  let serial = 0;
  const node = async () => {
    const rx = new MoleculerBroker({
      nodeID: "rx",
      namespace: `cost-rx-${k}-${++serial}`,
      logger: false,
      transporter: "Fake",
      heartbeatTimeout: 3600,
    });
    for (const s of services) rx.createService(s);
    await rx.start();
    const tx = (rx as unknown as Received).transit.tx;
    const announce = () => {
      seq++;
      for (let n = 0; n < k; n++) {
        const payload = { ...body, sender: `p${n}`, instanceID: `i${n}`, seq };
        tx.receive("INFO", Buffer.from(JSON.stringify(payload)));
      }
    };
    announce();
    if (rx.registry.nodes.onlineCount() !== k + 1) throw new Error("moleculer: INFO not taken");
    return { rx, tx, announce };
  };
  const info = await cpuPerItem(async () => {
    const { rx, announce } = await node();
    return {
      work: () => {
        for (let p = 0; p < PASSES; p++) announce();
        return PASSES * k;
      },
      done: () => rx.stop(),
    };
  });
  const heartbeat = await cpuPerItem(async () => {
    const { rx, tx } = await node();
    const beats = Array.from({ length: k }, (_, n) =>
      Buffer.from(JSON.stringify({ ver: body.ver, sender: `p${n}`, cpu: 3 })),
    );
    return {
      work: () => {
        for (let p = 0; p < 50; p++) for (const b of beats) tx.receive("HEARTBEAT", b);
        return 50 * k;
      },
      done: () => rx.stop(),
    };
  });
  return { info, heartbeat, infoBytes: captured!.length };
}

const rows: Record<string, unknown>[] = [];
for (const k of known) {
  for (const [name, run] of [
    ["flotilla", flotilla],
    ["moleculer", moleculer],
  ] as const) {
    const r = await run(k);
    rows.push({ system: name, known: k, ...r });
    console.log(
      `${name.padEnd(10)} known ${String(k).padStart(4)}  INFO ${r.info.median} µs (${r.info.min}–${r.info.max})  HEARTBEAT ${r.heartbeat.median} µs (${r.heartbeat.min}–${r.heartbeat.max})  INFO size ${r.infoBytes} B`,
    );
  }
}
const file = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "results",
  "cluster-packet-cost.json",
);
mkdirSync(dirname(file), { recursive: true });
const meta = {
  bench: "cluster-packet-cost",
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  unit: "CPU µs per packet received (user + system), median of 5 rounds (min–max)",
};
writeFileSync(file, `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
console.log(`written to ${file}`);

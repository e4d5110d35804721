// Local call throughput: Flotilla's broker.call vs Moleculer's vs a bare `await fn()` (the floor),
// 1 and 100 calls in flight, same process, same run. Then a leak check over 10,000 calls.
// Run: npm run bench:local   (results in bench/results/local-call.json)
import { defineService, ServiceBroker } from "flotilla";
import { ServiceBroker as MoleculerBroker } from "moleculer";
import { z } from "zod";
import { measure, type Row, report } from "../lib.js";

const ms = Number(process.env.BENCH_MS ?? 2000);
const params = { a: 1, b: 2 };

async function add(p: { a: number; b: number }): Promise<number> {
  return p.a + p.b;
}

const flotilla = new ServiceBroker({ logger: false, nodeID: "bench" });
flotilla.createService(
  defineService({
    name: "math",
    actions: {
      add: { handler: async (ctx) => (ctx.params.a as number) + (ctx.params.b as number) },
      addChecked: {
        params: z.object({ a: z.number(), b: z.number() }),
        handler: async (ctx) => ctx.params.a + ctx.params.b,
      },
    },
  }),
);
await flotilla.start();

const moleculer = new MoleculerBroker({ logger: false, nodeID: "bench-m" });
moleculer.createService({
  name: "math",
  actions: {
    add: {
      handler: async (ctx: { params: { a: number; b: number } }) => ctx.params.a + ctx.params.b,
    },
  },
});
await moleculer.start();

const rows: Row[] = [];
for (const inFlight of [1, 100]) {
  rows.push({
    name: "bare await fn() (floor)",
    inFlight,
    opsPerSec: await measure(() => add(params), inFlight, ms),
  });
  rows.push({
    name: "flotilla broker.call",
    inFlight,
    opsPerSec: await measure(() => flotilla.call("math.add", params), inFlight, ms),
  });
  rows.push({
    name: "flotilla broker.call + zod validation",
    inFlight,
    opsPerSec: await measure(() => flotilla.call("math.addChecked", params), inFlight, ms),
  });
  rows.push({
    name: "moleculer broker.call",
    inFlight,
    opsPerSec: await measure(() => moleculer.call("math.add", params), inFlight, ms),
  });
}

const gc = (globalThis as { gc?: () => void }).gc;
let heapGrowthBytes: number | undefined;
if (gc) {
  for (let i = 0; i < 10_000; i++) await flotilla.call("math.add", params);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10_000; i++) await flotilla.call("math.add", params);
  gc();
  heapGrowthBytes = process.memoryUsage().heapUsed - before;
  console.log(
    `heap growth after 10,000 calls (after GC): ${(heapGrowthBytes / 1024).toFixed(1)} KiB`,
  );
}

const pick = (name: string, inFlight: number) =>
  rows.find((r) => r.name === name && r.inFlight === inFlight)?.opsPerSec ?? 0;
const ratios = Object.fromEntries(
  [1, 100].map((n) => [
    `inFlight${n}`,
    {
      flotillaVsMoleculer: +(
        pick("flotilla broker.call", n) / pick("moleculer broker.call", n)
      ).toFixed(2),
      floorVsFlotilla: +(
        pick("bare await fn() (floor)", n) / pick("flotilla broker.call", n)
      ).toFixed(2),
    },
  ]),
);
console.log(ratios);
report("local-call", rows, { ratios, heapGrowthBytes });
await flotilla.stop();
await moleculer.stop();

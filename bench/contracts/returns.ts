// What checking results against `returns` costs on a local call. One action answers a small
// order (5 fields, an array of 2 strings): on a broker without a `returns` schema (the
// baseline), with one and results not checked (production's default), and with one and results
// checked (development's and tests' default); plus the zod check alone, the floor of that cost.
//
// The cost is a few hundred nanoseconds, smaller than the swings a shared 2-core machine causes
// between runs of separate processes, so all four run in this one process, in short slices that
// alternate (order rotated each round): each round's slices see the same load, and the cost is
// taken per round, as the difference of the time per call checked and unchecked, then its
// median over the rounds. The three brokers serve one action each, from the same code.
// Run: npm run build && node --import tsx bench/contracts/returns.ts
//   (results in bench/results/contracts-returns.json)
//   BENCH_ROUNDS (default 40), BENCH_SLICE_MS (per contender and round, default 250)
import { defineService, ServiceBroker } from "flotilla";
import { z } from "zod";
import { report } from "../lib.js";
import { median } from "../observability.js";

const NONE = "broker.call, no returns schema (baseline)";
const SKIPPED = "broker.call, returns, results not checked (production)";
const CHECKED = "broker.call, returns, results checked (development)";
const FLOOR = "zod check of the result alone (floor of the cost)";

const Order = z.object({
  id: z.number().int(),
  customer: z.string(),
  email: z.string(),
  tags: z.array(z.string()),
  total: z.number(),
});
const order = { id: 7, customer: "Ada", email: "ada@example.com", tags: ["a", "b"], total: 12.5 };

async function brokerWith(returns: boolean, checked: boolean): Promise<ServiceBroker> {
  const broker = new ServiceBroker({
    logger: false,
    nodeID: `bench-${returns}-${checked}`,
    tracing: false,
    validation: { results: checked },
  });
  broker.createService(
    defineService({
      name: "orders",
      actions: returns
        ? { get: { returns: Order, handler: async () => order } }
        : { get: { handler: async () => order } },
    }),
  );
  await broker.start();
  return broker;
}

const brokers = {
  [NONE]: await brokerWith(false, false),
  [SKIPPED]: await brokerWith(true, false),
  [CHECKED]: await brokerWith(true, true),
};
const validate = Order["~standard"].validate;
const contenders: Record<string, () => Promise<unknown>> = {
  [NONE]: () => brokers[NONE].call("orders.get"),
  [SKIPPED]: () => brokers[SKIPPED].call("orders.get"),
  [CHECKED]: () => brokers[CHECKED].call("orders.get"),
  [FLOOR]: async () => validate(order),
};

/** Calls completed in `ms` with `inFlight` loops, as calls per second. */
async function slice(op: () => Promise<unknown>, inFlight: number, ms: number): Promise<number> {
  const started = performance.now();
  const end = started + ms;
  let count = 0;
  const loop = async () => {
    while (performance.now() < end) {
      for (let i = 0; i < 32; i++) await op();
      count += 32;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return (count * 1000) / (performance.now() - started);
}

const rounds = Number(process.env.BENCH_ROUNDS ?? 40);
const ms = Number(process.env.BENCH_SLICE_MS ?? 250);
const inFlights = [1, 100];
const names = Object.keys(contenders);
const samples = new Map(names.map((n) => [n, new Map(inFlights.map((f) => [f, [] as number[]]))]));

// Warm-up: every contender, both shapes, until the JIT has settled.
for (const name of names) for (const n of inFlights) await slice(contenders[name]!, n, 1000);
for (let r = 0; r < rounds; r++) {
  const order_ = [...names.slice(r % names.length), ...names.slice(0, r % names.length)];
  for (const n of inFlights)
    for (const name of order_)
      samples
        .get(name)!
        .get(n)!
        .push(await slice(contenders[name]!, n, ms));
  if ((r + 1) % 10 === 0) process.stderr.write(`  round ${r + 1}/${rounds}\n`);
}
for (const b of Object.values(brokers)) await b.stop();

const rows = inFlights.flatMap((n) =>
  names.map((name) => {
    const xs = samples.get(name)!.get(n)!;
    return {
      name,
      inFlight: n,
      opsPerSec: Math.round(median(xs)),
      min: Math.round(Math.min(...xs)),
      max: Math.round(Math.max(...xs)),
    };
  }),
);
/** Per round: ns per call of `a` minus ns per call of `b`; median and middle half. */
const nsOver = (a: string, b: string, n: number) => {
  const xs = samples.get(a)!.get(n)!;
  const ys = samples.get(b)!.get(n)!;
  const diffs = xs.map((x, i) => 1e9 / x - 1e9 / ys[i]!).sort((p, q) => p - q);
  const at = (q: number) => Math.round(diffs[Math.floor(q * (diffs.length - 1))]!);
  return { median: Math.round(median(diffs)), p25: at(0.25), p75: at(0.75) };
};
const costs = Object.fromEntries(
  inFlights.map((n) => [
    `inFlight${n}`,
    {
      checkNsPerCall: nsOver(CHECKED, SKIPPED, n),
      returnsDeclaredButSkippedNsPerCall: nsOver(SKIPPED, NONE, n),
      zodAloneNsPerCall: Math.round(1e9 / median(samples.get(FLOOR)!.get(n)!)),
      checkedVsBaselineRatio: +(
        median(samples.get(CHECKED)!.get(n)!) / median(samples.get(NONE)!.get(n)!)
      ).toFixed(3),
    },
  ]),
);
console.log(JSON.stringify(costs, null, 2));
report("contracts-returns", rows, {
  rounds,
  msPerSlice: ms,
  method:
    "one process, contenders alternate in slices, order rotated per round; costs are per-round differences",
  result: "{ id, customer, email, tags: [2 strings], total }, zod 4 object schema",
  costs,
});

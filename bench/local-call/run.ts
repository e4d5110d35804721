// Local call throughput: Flotilla's broker.call vs Moleculer's vs a bare `await fn()` (the floor),
// 1 and 100 calls in flight, and what tracing and metrics cost: Flotilla with `tracing: false`
// (the baseline), with its defaults (the tracing API, no SDK registered), with the OpenTelemetry
// SDK sampling 100 % and 10 %, with `metrics: true`; Moleculer plain and with its tracing and
// metrics. Each configuration lives in a child process of its own (the SDK is process-global;
// one broker per process also keeps each one's JIT feedback its own); rounds interleave them and
// each figure is the median of its rounds. Then a leak check over 10,000 calls (default broker).
// Run: npm run bench:local   (results in bench/results/local-call.json)
//   BENCH_MS (per measurement, default 1500), BENCH_ROUNDS (default 5), BENCH_WARMUP_MS (unmeasured
//   run of a fresh process before its first measurement, default 1000), BENCH_FOREIGN_LIMIT (see
//   runRounds in ../observability.ts), BENCH_NODE_FLAGS (V8 flags of the measured processes,
//   default --no-concurrent-recompilation, see below), BENCH_CONFIGS (comma-separated subset of:
//   floor,off,default,zod,sdk100,sdk10,metrics,moleculer,moleculer-observed; zod is the default
//   broker calling an action with a zod schema).
//
// Why --no-concurrent-recompilation: with V8's default (optimized code compiled on a background
// thread and installed whenever it is ready), a Flotilla local-call process settles in one of two
// states at random, about 16 M or about 12 M calls/s on the 2-core machine of bench/README.md
// (about half the processes slow, with `tracing: false` as with the defaults). Rounds in one
// process never reveal it, and a median over 5 processes lands in either place. Compiling on the
// main thread makes the slow state rarer (12 processes of 12 fast in a test at 1 in flight; 5 of
// 22 slow at 100 in flight over 11 rounds) and changes neither Moleculer's figures nor the
// traced ones. BENCH_NODE_FLAGS="" measures with V8's defaults.
import { fileURLToPath } from "node:url";
import { report } from "../lib.js";
import {
  childNodeFlags,
  costOf,
  type FlotillaConfig,
  flotillaConfigs,
  flotillaRow,
  moleculerObservability,
  printCosts,
  rowsOf,
  runRounds,
  serveContenders,
  setUpFlotilla,
  startChild,
} from "../observability.js";

const params = { a: 1, b: 2 };
const FLOTILLA = "flotilla broker.call";
const MOLECULER = "moleculer broker.call";
const MOLECULER_OBSERVED = "moleculer broker.call, tracing + metrics";
const FLOOR = "bare await fn() (floor)";
const ZOD = "flotilla broker.call + zod validation";
const BASELINE = flotillaRow(FLOTILLA, "off");

const child = process.env.BENCH_CHILD;
if (child === undefined) await parent();
else if (child === "floor") floorChild();
else if (child === "moleculer" || child === "moleculer-observed") await moleculerChild(child);
else if (child === "zod") await flotillaChild("default", "addChecked");
else await flotillaChild(child as FlotillaConfig, "add");

async function add(p: { a: number; b: number }): Promise<number> {
  return p.a + p.b;
}

function floorChild(): void {
  serveContenders({ [FLOOR]: () => add(params) });
}

/**
 * One broker, one contender: a process that also ran another action would give the shared code
 * (the invoker, the pipeline) feedback from both, and time each a little differently.
 */
async function flotillaChild(config: FlotillaConfig, action: "add" | "addChecked"): Promise<void> {
  if (!(config in flotillaConfigs)) throw new Error(`unknown configuration ${config}`);
  const { options, sdk } = await setUpFlotilla(config);
  const { defineService, ServiceBroker } = await import("flotilla");
  const { z } = await import("zod");
  const broker = new ServiceBroker({ logger: false, nodeID: "bench", ...options });
  broker.createService(
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
  await broker.start();
  const call = () => broker.call(`math.${action}`, params);
  const name = action === "addChecked" ? ZOD : flotillaRow(FLOTILLA, config);

  serveContenders({ [name]: call }, async () => {
    const extra: Record<string, unknown> = {};
    if (name === FLOTILLA) extra.heapGrowthBytes = await leakCheck(call);
    if (sdk !== undefined) extra.spans = await spansPerCall(call, sdk);
    await broker.stop();
    return extra;
  });
}

/** Heap growth over 10,000 calls, after GC (needs --expose-gc), as before this bench had rounds. */
async function leakCheck(call: () => Promise<unknown>): Promise<number | undefined> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  for (let i = 0; i < 10_000; i++) await call();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10_000; i++) await call();
  gc();
  const growth = process.memoryUsage().heapUsed - before;
  console.log(`heap growth after 10,000 calls (after GC): ${(growth / 1024).toFixed(1)} KiB`);
  return growth;
}

/**
 * Spans the exporter received per call, over 10,000 calls with 100 in flight: 2 when every trace
 * is kept (the caller's span and the handler's), about 0.2 at 10 %; fewer would mean the batch
 * processor's queue dropped spans, which would make the SDK rows look cheaper than they are.
 */
async function spansPerCall(
  call: () => Promise<unknown>,
  sdk: { exported(): number; flush(): Promise<void> },
) {
  await sdk.flush();
  const before = sdk.exported();
  const calls = 10_000;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      for (let i = 0; i < calls / 100; i++) await call();
    }),
  );
  await sdk.flush();
  return { calls, exported: sdk.exported() - before, perCall: (sdk.exported() - before) / calls };
}

async function moleculerChild(config: "moleculer" | "moleculer-observed"): Promise<void> {
  const { ServiceBroker } = await import("moleculer");
  const observed = config === "moleculer-observed" ? await moleculerObservability() : {};
  const broker = new ServiceBroker({ logger: false, nodeID: "bench-m", ...observed });
  broker.createService({
    name: "math",
    actions: {
      add: {
        handler: async (ctx: { params: { a: number; b: number } }) => ctx.params.a + ctx.params.b,
      },
    },
  });
  await broker.start();
  const name = config === "moleculer" ? MOLECULER : MOLECULER_OBSERVED;
  serveContenders({ [name]: () => broker.call("math.add", params) }, async () => {
    await broker.stop();
    return {};
  });
}

async function parent(): Promise<void> {
  const ms = Number(process.env.BENCH_MS ?? 1500);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const inFlights = [1, 100];
  const all = [
    "floor",
    "off",
    "default",
    "zod",
    "sdk100",
    "sdk10",
    "metrics",
    "moleculer",
    "moleculer-observed",
  ];
  const configs = process.env.BENCH_CONFIGS?.split(",") ?? all;
  const script = fileURLToPath(import.meta.url);
  const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 1000);
  const nodeFlags = childNodeFlags(["--no-concurrent-recompilation"]);
  const { samples, quiet, extras } = await runRounds(
    configs,
    (config) => startChild(script, config, nodeFlags),
    inFlights,
    rounds,
    ms,
    warmupMs,
  );
  const rows = rowsOf(samples, inFlights);
  const baselineOf = (name: string) =>
    name.startsWith("moleculer") ? MOLECULER : name.startsWith("flotilla") ? BASELINE : undefined;
  const pick = (name: string, n: number) =>
    rows.find((r) => r.name === name && r.inFlight === n)?.opsPerSec ?? 0;
  const ratios = Object.fromEntries(
    inFlights.map((n) => [
      `inFlight${n}`,
      {
        flotillaVsMoleculer: +(pick(FLOTILLA, n) / pick(MOLECULER, n)).toFixed(2),
        floorVsFlotilla: +(pick(FLOOR, n) / pick(FLOTILLA, n)).toFixed(2),
      },
    ]),
  );
  // What each configuration costs against its framework's plain figure, per number in flight.
  const costs = Object.fromEntries(
    [...samples.keys()]
      .filter((name) => baselineOf(name) !== undefined && baselineOf(name) !== name)
      .filter((name) => samples.has(baselineOf(name)!))
      .map((name) => [
        name,
        Object.fromEntries(
          inFlights.map((n) => [`inFlight${n}`, costOf(samples, name, baselineOf(name)!, n)]),
        ),
      ]),
  );
  // The tracing API without an SDK must stay within 3 % of `tracing: false`.
  const noSdk = costs[FLOTILLA] as Record<string, ReturnType<typeof costOf>> | undefined;
  const noSdkWithin3Percent =
    noSdk === undefined
      ? undefined
      : Object.fromEntries(Object.entries(noSdk).map(([k, c]) => [k, c.perRoundCostPercent <= 3]));
  console.log("");
  printCosts(samples, rows, baselineOf);
  console.log({ ratios, noSdkWithin3Percent, quiet });
  report("local-call", rows, {
    rounds,
    msPerMeasurement: ms,
    warmupMs,
    nodeFlags,
    quiet,
    configurations: {
      ...Object.fromEntries(
        Object.entries(flotillaConfigs).map(([k, v]) => [
          flotillaRow(FLOTILLA, k as FlotillaConfig),
          v.note,
        ]),
      ),
      [MOLECULER_OBSERVED]:
        "tracing: every action, sampling rate 1, exporter that drops spans; metrics: enabled, no reporter",
      sdkSetup:
        "NodeTracerProvider registered by the bench before the broker starts; ParentBasedSampler(TraceIdRatioBasedSampler); BatchSpanProcessor (defaults) into an exporter that counts spans and drops them",
    },
    ratios,
    costs,
    noSdkWithin3Percent,
    heapGrowthBytes: extras.default?.heapGrowthBytes,
    spans: Object.fromEntries(
      Object.entries(extras)
        .filter(([, e]) => e.spans !== undefined)
        .map(([k, e]) => [k, e.spans]),
    ),
  });
}

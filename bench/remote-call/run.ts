// Remote call throughput between two processes on this machine, 1 and 64 calls in flight:
// a raw `net` NDJSON request/reply (the floor), Moleculer's TCP transporter, and Flotilla's tcp://,
// in the same run, and what tracing and metrics cost on both sides of a call: Flotilla with
// `tracing: false` (the baseline), with its defaults (the tracing API, no SDK registered), with
// the OpenTelemetry SDK sampling 100 % and 10 %, with `metrics: true`; Moleculer plain and with
// its tracing and metrics. Each configuration is a pair of processes of its own, client and
// server (the SDK is process-global); rounds interleave the configurations and each figure is the
// median of its rounds.
// Run: npm run bench:remote   (results in bench/results/remote-call.json)
//   BENCH_MS (per measurement, default 2000), BENCH_ROUNDS (default 5), BENCH_WARMUP_MS
//   (unmeasured run of a fresh pair before its first measurement, default 5000),
//   BENCH_FOREIGN_LIMIT (see runRounds in ../observability.ts), BENCH_NODE_FLAGS (V8 flags of
//   the measured processes, default none: --no-concurrent-recompilation, which steadies local
//   calls, makes traced remote calls 2-3x slower), BENCH_PORT (first of the ports used, default
//   47001), BENCH_CONFIGS (comma-separated subset of:
//   raw,moleculer,moleculer-observed,off,default,sdk100,sdk10,metrics)
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
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
const FLOOR = "raw net NDJSON (floor)";
const MOLECULER = "moleculer TCP";
const MOLECULER_OBSERVED = "moleculer TCP, tracing + metrics";
const FLOTILLA = "flotilla tcp://";
const BASELINE = flotillaRow(FLOTILLA, "off");
const ALL = [
  "raw",
  "moleculer",
  "moleculer-observed",
  "off",
  "default",
  "sdk100",
  "sdk10",
  "metrics",
];
const here = fileURLToPath(import.meta.url);

const child = process.env.BENCH_CHILD;
const server = process.env.BENCH_SERVER;
if (server !== undefined) await serve(server);
else if (child !== undefined) await client(child);
else await parent();

/** Ports of a configuration: its raw or Moleculer server, and the Moleculer client. */
function portsOf(config: string): [number, number] {
  const base = Number(process.env.BENCH_PORT ?? 47001) + ALL.indexOf(config) * 2;
  return [base, base + 1];
}

// ---------------------------------------------------------------------------------------------
// Server side: one process per configuration; prints "ready" once it can take calls.

async function serve(config: string): Promise<void> {
  // On SIGINT, stop the broker (a Flotilla node leaves its rendezvous entry otherwise) and exit
  // normally, so profilers (--cpu-prof) can write their output.
  let stop = async () => {};
  process.on("SIGINT", () => {
    void stop().finally(() => process.exit(0));
  });
  const [port, clientPort] = portsOf(config);
  if (config === "moleculer" || config === "moleculer-observed") {
    const { ServiceBroker } = await import("moleculer");
    const broker = new ServiceBroker({
      nodeID: "m-server",
      namespace: `bench-${config}`,
      logger: false,
      transporter: {
        type: "TCP",
        options: { udpDiscovery: false, port, urls: `127.0.0.1:${clientPort}/m-client` },
      },
      ...(config === "moleculer-observed" ? await moleculerObservability() : {}),
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
    stop = () => broker.stop();
  } else {
    const { options, sdk } = await setUpFlotilla(config as FlotillaConfig);
    const { defineService, ServiceBroker } = await import("flotilla");
    const broker = new ServiceBroker({
      nodeID: "f-server",
      namespace: process.env.BENCH_NAMESPACE!,
      logger: false,
      transporter: "tcp://",
      ...options,
    });
    broker.createService(
      defineService({
        name: "math",
        actions: {
          add: { handler: (ctx) => (ctx.params.a as number) + (ctx.params.b as number) },
          // The spans this process exported so far (for the check of the SDK rows).
          spans: {
            handler: async () => {
              await sdk?.flush();
              return sdk?.exported() ?? 0;
            },
          },
        },
      }),
    );
    await broker.start();
    stop = () => broker.stop();
  }
  console.log("ready");
}

async function startServer(config: string, namespace: string): Promise<ChildProcess> {
  const [port] = portsOf(config);
  const proc =
    config === "raw"
      ? spawn(
          process.execPath,
          [
            "--import",
            "tsx",
            fileURLToPath(new URL("./servers.ts", import.meta.url)),
            "raw",
            String(port),
          ],
          { stdio: ["ignore", "pipe", "inherit"] },
        )
      : spawn(process.execPath, [...process.execArgv, here], {
          env: { ...process.env, BENCH_SERVER: config, BENCH_NAMESPACE: namespace },
          stdio: ["ignore", "pipe", "inherit"],
        });
  process.on("exit", () => proc.kill());
  const [line] = (await once(proc.stdout!, "data")) as [Buffer];
  if (!line.toString().startsWith("ready")) throw new Error(`${config} server failed: ${line}`);
  return proc;
}

// ---------------------------------------------------------------------------------------------
// Client side: one process per configuration, driven by the parent through serveContenders.

async function client(config: string): Promise<void> {
  const namespace = `bench-${process.pid}-${config}`;
  const serverProc = await startServer(config, namespace);
  const [port, clientPort] = portsOf(config);
  const stopServer = async () => {
    const exited = once(serverProc, "exit");
    serverProc.kill("SIGINT");
    await exited;
  };

  if (config === "raw") {
    const raw = await rawClient(port);
    serveContenders({ [FLOOR]: raw.call }, async () => {
      raw.close();
      await stopServer();
      return {};
    });
  } else if (config === "moleculer" || config === "moleculer-observed") {
    const { ServiceBroker } = await import("moleculer");
    const mol = new ServiceBroker({
      nodeID: "m-client",
      namespace: `bench-${config}`,
      logger: false,
      transporter: {
        type: "TCP",
        options: { udpDiscovery: false, port: clientPort, urls: `127.0.0.1:${port}/m-server` },
      },
      ...(config === "moleculer-observed" ? await moleculerObservability() : {}),
    });
    await mol.start();
    await mol.waitForServices("math", 10_000);
    const name = config === "moleculer" ? MOLECULER : MOLECULER_OBSERVED;
    serveContenders({ [name]: () => mol.call("math.add", params) }, async () => {
      await mol.stop();
      await stopServer();
      return {};
    });
  } else {
    if (!(config in flotillaConfigs)) throw new Error(`unknown configuration ${config}`);
    const { options, sdk } = await setUpFlotilla(config as FlotillaConfig);
    const { ServiceBroker } = await import("flotilla");
    const flo = new ServiceBroker({
      nodeID: "f-client",
      namespace,
      logger: false,
      transporter: "tcp://",
      ...options,
    });
    await flo.start();
    await flo.waitForServices("math", 10_000);
    const call = () => flo.call("math.add", params);
    serveContenders({ [flotillaRow(FLOTILLA, config as FlotillaConfig)]: call }, async () => {
      const extra: Record<string, unknown> = {};
      if (sdk !== undefined) {
        // Spans per call on each side over 10,000 calls, 64 in flight: 1 each when every trace
        // is kept, about 0.1 at 10 % (the server follows the caller's decision).
        const serverSpans = () => flo.call("math.spans", {}) as Promise<number>;
        await sdk.flush();
        const clientBefore = sdk.exported();
        const serverBefore = await serverSpans();
        const calls = 10_000;
        await Promise.all(
          Array.from({ length: 64 }, async (_, i) => {
            for (let j = i; j < calls; j += 64) await call();
          }),
        );
        await sdk.flush();
        const clientPerCall = (sdk.exported() - clientBefore) / calls;
        // The server counts the client's call to `math.spans` above (1 span, when kept).
        const serverPerCall = (await serverSpans()) - serverBefore;
        extra.spans = { calls, clientPerCall, serverPerCall: serverPerCall / calls };
      }
      await flo.stop();
      await stopServer();
      return extra;
    });
  }
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

// ---------------------------------------------------------------------------------------------

async function parent(): Promise<void> {
  const ms = Number(process.env.BENCH_MS ?? 2000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const inFlights = [1, 64];
  const configs = process.env.BENCH_CONFIGS?.split(",") ?? ALL;
  const warmupMs = Number(process.env.BENCH_WARMUP_MS ?? 5000);
  const nodeFlags = childNodeFlags([]);
  const { samples, quiet, extras } = await runRounds(
    configs,
    (config) => startChild(here, config, nodeFlags),
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
        flotillaVsFloor: +(pick(FLOTILLA, n) / pick(FLOOR, n)).toFixed(2),
        flotillaVsMoleculer: +(pick(FLOTILLA, n) / pick(MOLECULER, n)).toFixed(2),
      },
    ]),
  );
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
  report("remote-call", rows, {
    rounds,
    msPerMeasurement: ms,
    warmupMs,
    nodeFlags,
    quiet,
    configurations: {
      ...Object.fromEntries(
        Object.entries(flotillaConfigs).map(([k, v]) => [
          flotillaRow(FLOTILLA, k as FlotillaConfig),
          `${v.note}; same on client and server`,
        ]),
      ),
      [MOLECULER_OBSERVED]:
        "client and server: tracing of every action, sampling rate 1, exporter that drops spans; metrics enabled, no reporter",
      sdkSetup:
        "NodeTracerProvider registered by the bench in each process before its broker starts; ParentBasedSampler(TraceIdRatioBasedSampler); BatchSpanProcessor (defaults) into an exporter that counts spans and drops them",
    },
    ratios,
    costs,
    noSdkWithin3Percent,
    spans: Object.fromEntries(
      Object.entries(extras)
        .filter(([, e]) => e.spans !== undefined)
        .map(([k, e]) => [k, e.spans]),
    ),
  });
}

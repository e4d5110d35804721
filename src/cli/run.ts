import { fork } from "node:child_process";
import { statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { ServiceBroker } from "../broker/broker.js";
import { startHealthServer } from "../observability/health-server.js";
import { metricsRefused } from "../observability/metrics/options.js";
import type { AnyServiceDefinition } from "../service/types.js";
import { type Parsed, UsageError } from "./args.js";
import { configure } from "./config/load.js";
import { expandFiles, loadServices } from "./load.js";
import { locate, syntaxLocation } from "./locate.js";
import { cliLogger } from "./logger.js";
import type { Output } from "./output.js";

/** The signals that stop `run` gracefully; a second one exits at once. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * `flotilla run <files...>`: loads the services into one broker and runs until SIGINT, SIGTERM or
 * SIGHUP, then stops gracefully (the node says goodbye, its rendezvous entry is removed). With
 * `--instances N`, forks N such processes and stops them together. A module that cannot be loaded
 * is reported as a local error with its file and line.
 */
export async function run(given: Parsed, out: Output): Promise<number> {
  const config = await configure(given, "run");
  const o = config.parsed.options;
  if (config.services.length === 0)
    throw new UsageError(
      "missing the service files, directories or globs to run (or services in flotilla.config.ts)",
      "run",
    );
  const instances = (o.instances as number | undefined) ?? 1;
  if (instances > 1) return runInstances(instances);
  const files = filesOf(config.services);
  const watching = o.watch === true ? await loadWatchedFiles(files, out) : undefined;
  if (typeof watching === "number") return watching;
  const definitions: AnyServiceDefinition[] = [];
  for (const file of files) {
    if (watching !== undefined) {
      definitions.push(...(watching.loaded.get(file) ?? []));
      continue;
    }
    try {
      definitions.push(...(await loadServices([file])));
    } catch (err) {
      return cannotLoad(err, file, out);
    }
  }
  const nodeID = o["node-id"] as string | undefined;
  const port = o["health-port"] as number | undefined;
  const drainTimeout = o["drain-timeout"] as number | undefined;
  const dependencyTimeout = o["dependency-timeout"] as number | undefined;
  const broker = new ServiceBroker({
    // With probes, the metrics are served next to them (unless FLOTILLA_METRICS=0 says no).
    ...(port !== undefined && !metricsRefused() ? { metrics: true } : {}),
    ...config.broker,
    // Watching swaps services while the node runs: their running handlers are counted.
    ...(o.watch === true ? { replaceable: true } : {}),
    transporter: (o.transporter as string | undefined) ?? "tcp://",
    ...(o.discovery ? { discovery: o.discovery as string } : {}),
    namespace: (o.namespace as string | undefined) ?? "",
    logger: cliLogger((o["log-level"] as string | undefined) ?? "info", 1),
    ...(nodeID ? { nodeID: instanceID(nodeID) } : {}),
    ...(o.serializer ? { serializer: o.serializer as "json" | "msgpack" } : {}),
    ...(drainTimeout === undefined ? {} : { drainTimeout }),
    ...(dependencyTimeout === undefined ? {} : { dependencyTimeout }),
  });
  try {
    for (const def of definitions) broker.createService(def);
  } catch (err) {
    return out.localError(err, "cannot create the services");
  }
  // Listen before starting, so a signal that arrives during start still stops the node cleanly.
  const signal = untilSignal();
  let probes: { close(cb: () => void): void } | undefined;
  let watcher: { close(): Promise<void> } | undefined;
  try {
    if (port !== undefined) {
      // Forked instance n serves its probes on port + n - 1, so instances do not collide.
      const offset = Number(process.env.FLOTILLA_INSTANCE ?? 1) - 1;
      const host = o["health-host"] as string | undefined;
      probes = await startHealthServer(broker, { port: port + offset, ...(host ? { host } : {}) });
    }
    await broker.start();
    if (watching !== undefined) watcher = await watching.watch(broker, out);
  } catch (err) {
    await watcher?.close();
    await broker.stop().catch(() => undefined);
    await new Promise((done) => (probes ? probes.close(() => done(undefined)) : done(undefined)));
    return out.localError(err, "the node could not start");
  }
  await signal;
  await watcher?.close();
  await broker.stop();
  await new Promise((done) => (probes ? probes.close(() => done(undefined)) : done(undefined)));
  return 0;
}

/** A module that does not load: a local error with its file and line. */
function cannotLoad(err: unknown, file: string, out: Output): number {
  const at =
    err instanceof SyntaxError && locate(err) === undefined ? syntaxLocation(file) : undefined;
  return out.localError(err, `cannot load ${relative(process.cwd(), file) || file}`, at);
}

/**
 * `--watch`: loads the services through the reload hooks (chokidar and the hooks are loaded only
 * then); a module that does not load at start is an error, as without `--watch`.
 */
async function loadWatchedFiles(files: string[], out: Output) {
  const { loadWatched, watchServices } = await import("./watch/watch.js");
  const modules = await loadWatched(files);
  if ("failed" in modules) return cannotLoad(modules.error, modules.failed, out);
  return {
    loaded: modules.loaded,
    watch: (broker: ServiceBroker, o: Output) => watchServices(broker, modules, o),
  };
}

/** Every file the arguments name; a name that matches nothing is a usage error. */
function filesOf(patterns: readonly string[]): string[] {
  const files = new Set<string>();
  for (const pattern of patterns) {
    const glob = /[*?]/.test(pattern);
    if (!glob && !statSync(resolve(pattern), { throwIfNoEntry: false })) {
      throw new UsageError(`no such file or directory: ${pattern}`, "run");
    }
    const found = expandFiles([pattern]);
    if (found.length === 0) throw new UsageError(`no service modules match ${pattern}`, "run");
    for (const f of found) files.add(f);
  }
  return [...files];
}

/** `<id>-<n>` in the n-th forked instance, so instances of one command get unique node IDs. */
function instanceID(nodeID: string): string {
  const n = process.env.FLOTILLA_INSTANCE;
  return n === undefined ? nodeID : `${nodeID}-${n}`;
}

/**
 * Resolves on the first stop signal; a second one (an impatient Ctrl-C) exits at once. Forked
 * instances skip that: Ctrl-C reaches them twice, from the terminal and relayed by the parent.
 */
function untilSignal(): Promise<void> {
  const forked = process.env.FLOTILLA_INSTANCE !== undefined;
  return new Promise((done) => {
    const stop = (signal: NodeJS.Signals) => {
      for (const s of STOP_SIGNALS) process.off(s, stop);
      for (const s of STOP_SIGNALS) {
        process.once(s, () => (forked ? undefined : process.exit(signal === "SIGINT" ? 130 : 143)));
      }
      done();
    };
    for (const s of STOP_SIGNALS) process.on(s, stop);
  });
}

/** Forks the same command N times (without `--instances`) and relays signals to the children. */
async function runInstances(count: number): Promise<number> {
  const args = stripInstances(process.argv.slice(2));
  const { FLOTILLA_INSTANCES: _, ...env } = process.env;
  const children = Array.from({ length: count }, (_, i) =>
    fork(process.argv[1]!, args, {
      env: { ...env, FLOTILLA_INSTANCE: String(i + 1) },
      stdio: "inherit",
    }),
  );
  const exits = children.map(
    (child) => new Promise<number>((done) => child.on("exit", (code) => done(code ?? 1))),
  );
  const relay = (signal: NodeJS.Signals) => {
    for (const child of children) child.kill(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, relay);
  const codes = await Promise.all(exits);
  for (const s of STOP_SIGNALS) process.off(s, relay);
  return codes.every((c) => c === 0) ? 0 : 1;
}

function stripInstances(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (arg === "--instances" || arg === "-i") i++;
    else if (!arg.startsWith("--instances=")) out.push(arg);
  }
  return out;
}

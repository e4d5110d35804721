import { fork } from "node:child_process";
import { ServiceBroker } from "../broker/broker.js";
import { startHealthServer } from "../observability/health-server.js";
import { type CommonOptions, UsageError } from "./args.js";
import { expandFiles, loadServices } from "./load.js";

/**
 * `flotilla run <files...>`: loads the services into one broker and runs until SIGINT/SIGTERM;
 * with `--instances N`, forks N such processes and stops them together.
 */
export async function run(
  patterns: string[],
  common: CommonOptions,
  instances: number,
  health?: { port: number; host?: string },
): Promise<number> {
  if (patterns.length === 0)
    throw new UsageError("flotilla run needs at least one service file or glob");
  if (instances > 1) return runInstances(instances);
  const files = expandFiles(patterns);
  if (files.length === 0) throw new UsageError(`No files match ${patterns.join(" ")}`);
  const definitions = await loadServices(files);
  const broker = new ServiceBroker({
    transporter: common.transporter,
    namespace: common.namespace,
    ...(common.nodeID ? { nodeID: instanceID(common.nodeID) } : {}),
    ...(common.serializer ? { serializer: common.serializer } : {}),
  });
  for (const def of definitions) broker.createService(def);
  // Listen before starting, so a signal that arrives during start still stops the node cleanly.
  const signal = untilSignal();
  // Forked instance n serves its probes on port + n - 1, so instances do not collide.
  const offset = Number(process.env.FLOTILLA_INSTANCE ?? 1) - 1;
  const probes = health
    ? await startHealthServer(broker, { ...health, port: health.port + offset })
    : undefined;
  await broker.start();
  await signal;
  await broker.stop();
  await new Promise((resolve) => (probes ? probes.close(resolve) : resolve(undefined)));
  return 0;
}

/** `<id>-<n>` in the n-th forked instance, so instances of one command get unique node IDs. */
function instanceID(nodeID: string): string {
  const n = process.env.FLOTILLA_INSTANCE;
  return n === undefined ? nodeID : `${nodeID}-${n}`;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** Forks the same command N times (without `--instances`) and relays signals to the children. */
async function runInstances(count: number): Promise<number> {
  const args = stripInstances(process.argv.slice(2));
  const children = Array.from({ length: count }, (_, i) =>
    fork(process.argv[1]!, args, {
      env: { ...process.env, FLOTILLA_INSTANCE: String(i + 1) },
      stdio: "inherit",
    }),
  );
  const exits = children.map(
    (child) => new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1))),
  );
  const relay = (signal: NodeJS.Signals) => () => {
    for (const child of children) child.kill(signal);
  };
  process.on("SIGINT", relay("SIGINT"));
  process.on("SIGTERM", relay("SIGTERM"));
  const codes = await Promise.all(exits);
  return codes.every((c) => c === 0) ? 0 : 1;
}

function stripInstances(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--instances" || arg === "-i") i++;
    else if (!arg.startsWith("--instances=")) out.push(arg);
  }
  return out;
}

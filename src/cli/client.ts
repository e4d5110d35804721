import { ServiceBroker } from "../broker/broker.js";
import { getInternals } from "../broker/internals.js";
import type { ConfigBrokerOptions } from "./config/define.js";
import { cliLogger } from "./logger.js";
import { showProgress } from "./progress.js";

/** Options of the short-lived node that `call`, `emit`, the listings and `dlq` start. */
export interface ClientOptions {
  transporter: string;
  /** A registry center (`etcd://…`, `zk://…`), or `undefined` for discovery over the transporter. */
  discovery?: string | undefined;
  namespace: string;
  nodeID?: string | undefined;
  serializer?: "json" | "msgpack" | undefined;
  logLevel?: string | undefined;
  /** How long to wait for the cluster to show what is asked for, in ms. */
  wait: number;
  /** More broker options, from the config file's `broker`. */
  broker?: ConfigBrokerOptions | undefined;
}

/** `tcp:// (namespace "shop")`: where the CLI looks, for progress lines and hints. */
export function where(o: Pick<ClientOptions, "transporter" | "namespace">): string {
  return `${o.transporter} (${o.namespace ? `namespace "${o.namespace}"` : "no namespace"})`;
}

/** Starts a node without services, joins the cluster, runs `work`, and leaves. */
export async function withClient<T>(
  o: ClientOptions,
  work: (broker: ServiceBroker) => Promise<T>,
): Promise<T> {
  const broker = new ServiceBroker({
    ...o.broker,
    transporter: o.transporter,
    ...(o.discovery ? { discovery: o.discovery } : {}),
    namespace: o.namespace,
    logger: cliLogger(o.logLevel ?? "warn", 2),
    nodeID: o.nodeID ?? `cli-${process.pid}`,
    ...(o.serializer ? { serializer: o.serializer } : {}),
    // The console exporter writes to stdout, which is this command's answer (`| jq`): no spans
    // then. With a collector, the command's call is the root of its trace.
    ...(consoleExporter() ? { tracing: false } : {}),
  });
  const progress = showProgress(`Connecting to ${where(o)}`);
  try {
    await broker.start();
  } finally {
    progress.stop();
  }
  try {
    return await work(broker);
  } finally {
    await broker.stop();
  }
}

/**
 * Waits until `ready()` holds, re-checking on every change of the registry (no polling), at most
 * `max` ms, with a progress line saying `what` it waits for. Returns whether it holds.
 */
export async function waitUntil(
  broker: ServiceBroker,
  ready: () => boolean,
  max: number,
  what: string,
): Promise<boolean> {
  if (ready()) return true;
  const progress = showProgress(what);
  try {
    return await new Promise<boolean>((resolve) => {
      const finish = (ok: boolean) => {
        unwatch();
        clearTimeout(timer);
        resolve(ok);
      };
      const unwatch = broker.registry.watch(() => {
        if (ready()) finish(true);
      });
      const timer = setTimeout(() => finish(ready()), max);
    });
  } finally {
    progress.stop();
  }
}

/**
 * Waits until discovery has settled: some node is known and nothing changed for a short
 * while, or `max` ms passed. Woken by registry changes, never polls.
 */
export async function settle(broker: ServiceBroker, max: number, what: string): Promise<void> {
  const quiet = Math.min(300, max);
  const progress = showProgress(what);
  try {
    await new Promise<void>((resolve) => {
      let quietTimer: NodeJS.Timeout | undefined;
      const finish = () => {
        unwatch();
        clearTimeout(quietTimer);
        clearTimeout(deadline);
        resolve();
      };
      const restart = () => {
        clearTimeout(quietTimer);
        if (broker.registry.remote.nodes.size > 0 && introduced(broker)) {
          quietTimer = setTimeout(finish, quiet);
        }
      };
      const unwatch = broker.registry.watch(restart);
      const deadline = setTimeout(finish, max);
      restart();
    });
  } finally {
    progress.stop();
  }
}

/**
 * Whether every node this one has a session with (a transporter that knows its peers, `tcp://`)
 * has introduced itself: under load one peer's INFO may come well after another's, and a quiet
 * moment in between must not end the wait.
 */
function introduced(broker: ServiceBroker): boolean {
  const peers = getInternals(broker).transit()?.core.transporter.peers ?? [];
  const known = broker.registry.remote.nodes;
  return peers.every((id) => known.has(id));
}

/** The nodes this client sees, for hints: `2 nodes (math-1, greeter-1)` or `no nodes`. */
export function seen(broker: ServiceBroker): string {
  const ids = [...broker.registry.remote.nodes.keys()];
  if (ids.length === 0) return "no nodes";
  const shown = ids.slice(0, 5).join(", ") + (ids.length > 5 ? ", ..." : "");
  return `${ids.length} node${ids.length === 1 ? "" : "s"} (${shown})`;
}

/** How long the client waited, for hints: `5 s`, `200 ms`. */
export function waited(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`;
}

function consoleExporter(): boolean {
  const names = process.env.OTEL_TRACES_EXPORTER?.toLowerCase().split(",") ?? [];
  return names.some((name) => name.trim() === "console");
}

import { ServiceBroker } from "../broker/broker.js";
import { errorToPlain } from "../errors/index.js";
import type { CommonOptions } from "./args.js";

/** Options of the short-lived node that `call`, `emit` and the listings start. */
export interface ClientOptions extends CommonOptions {
  /** How long to wait for the cluster to show what is asked for, in ms. */
  wait: number;
}

/** Starts a node without services, joins the cluster, runs `work`, and leaves. */
export async function withClient<T>(
  common: ClientOptions,
  work: (broker: ServiceBroker) => Promise<T>,
): Promise<T> {
  const broker = new ServiceBroker({
    transporter: common.transporter,
    namespace: common.namespace,
    logger: {
      level: process.env.FLOTILLA_LOG_LEVEL === undefined ? "warn" : undefined,
      pretty: false,
    },
    nodeID: common.nodeID ?? `cli-${process.pid}`,
    ...(common.serializer ? { serializer: common.serializer } : {}),
  });
  await broker.start();
  try {
    return await work(broker);
  } finally {
    await broker.stop();
  }
}

/** Waits until the set of known nodes has not grown for a short while (discovery has settled). */
export async function settle(broker: ServiceBroker, max: number): Promise<void> {
  const end = Date.now() + max;
  let count = -1;
  let stableSince = Date.now();
  while (Date.now() < end) {
    const now = broker.registry.remote.nodes.size;
    if (now !== count) {
      count = now;
      stableSince = Date.now();
    } else if (count > 0 && Date.now() - stableSince > 300) {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The service part of an action name: `v2.users.get` → `v2.users`. */
export function serviceOf(action: string): string {
  return action.slice(0, Math.max(0, action.lastIndexOf(".")));
}

/** Prints a result as JSON on stdout. */
export function printJSON(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2) ?? "null"}\n`);
}

/** Prints an error with its code on stderr; returns the exit status (1). */
export function printError(err: unknown): number {
  const { name, message, code, status, retryable, data, nodeID } = errorToPlain(err);
  process.stderr.write(
    `${JSON.stringify({ error: { name, code, status, retryable, message, data, nodeID } }, null, 2)}\n`,
  );
  return 1;
}

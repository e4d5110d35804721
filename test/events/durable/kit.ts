import { randomBytes } from "node:crypto";
import {
  type BrokerOptions,
  type Context,
  defineService,
  ServiceBroker,
  type ServiceDefinition,
} from "flotilla";
import { afterAll, afterEach } from "vitest";
import type { Transporter } from "../../../src/transporters/transporter.js";
import { until } from "../../harness/index.js";

/** Handled events, per handler tag. */
export type Log = {
  tag: string;
  id: string | undefined;
  attempt: number | undefined;
  params: unknown;
}[];

/** Makes one node of a test, with its services created; stopped after the test. */
export type NodeMaker = (
  namespace: string,
  services?: ServiceDefinition[],
  options?: BrokerOptions,
) => ServiceBroker;

/** The nodes and namespaces of one test file on one durable-event backend. */
export interface DurableNodes {
  /** A node in `namespace` (its services created, not started); stopped after the test. */
  node: NodeMaker;
  /** A namespace no other test (or earlier run) uses; handed to `cleanup` after the file. */
  namespace(tag: string): string;
  /** The nodes of the current test. */
  readonly live: readonly ServiceBroker[];
}

/**
 * The brokers of a durable-event test file: every node gets `transporter()` (a URL, or a fresh
 * transporter), is stopped after each test, and the namespaces the file used go to `cleanup`
 * after it, to delete what they left on the server.
 *
 * @example
 * ```ts
 * const { node, namespace } = durableNodes(() => SHARED.redis.url, deleteRedisNamespaces);
 * const consumer = node(namespace("retry"), [recorder("mailer", "order.placed", log)]);
 * ```
 */
export function durableNodes(
  transporter: () => string | Transporter,
  cleanup?: (namespaces: readonly string[]) => Promise<void>,
): DurableNodes {
  const live: ServiceBroker[] = [];
  const namespaces: string[] = [];
  let seq = 0;
  afterEach(async () => {
    await Promise.allSettled(live.splice(0).map((b) => b.stop()));
  });
  afterAll(async () => {
    await cleanup?.(namespaces);
  }, 60_000);
  const node: NodeMaker = (namespace, services = [], options = {}) => {
    const broker = new ServiceBroker({
      nodeID: `n${++seq}-${process.pid}`,
      namespace,
      // DEBUG_DURABLE=1 shows the nodes' logs (e.g. why a connection was lost).
      logger: process.env.DEBUG_DURABLE ? { level: "debug" } : false,
      transporter: transporter(),
      ...options,
    });
    for (const s of services) broker.createService(s);
    live.push(broker);
    return broker;
  };
  const namespace = (tag: string) => {
    const ns = `dur-${tag}-${process.pid}-${randomBytes(3).toString("hex")}`;
    namespaces.push(ns);
    return ns;
  };
  return { node, namespace, live };
}

/** Waits until `broker` has no handler running (its acks are sent). */
/**
 * Starts nodes at once, as a cluster comes up, and waits until each is connected to the message
 * broker. RabbitMQ before 4.1 closes a connection (541 INTERNAL_ERROR) whose consume races
 * another connection's first declaration of the same quorum queue (rabbitmq-server#13625); the
 * node reconnects and resumes by itself, but an emit in between fails fast, by design.
 */
export async function startTogether(...brokers: ServiceBroker[]): Promise<void> {
  await Promise.all(brokers.map((b) => b.start()));
  await until(() => brokers.every((b) => b.health().transporter?.connected !== false), {
    message: "every node connected to the message broker",
  });
}

export const settled = (broker: ServiceBroker) =>
  until(() => broker.health().inFlight === 0, { timeout: 15_000, message: "the acks" });

/** A service with one durable handler that records each delivery (tag, ID, attempt, params). */
export function recorder(name: string, event: string, log: Log, tag = name, extra = {}) {
  return defineService({
    name,
    events: {
      [event]: {
        durable: true,
        ...extra,
        handler(ctx: Context<unknown>) {
          log.push({ tag, id: ctx.messageID, attempt: ctx.attempt, params: ctx.params });
        },
      },
    },
  });
}

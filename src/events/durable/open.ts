import type { Logger } from "../../observability/logger.js";
import type { LocalListener } from "../../registry/local.js";
import type { Registry } from "../../registry/registry.js";
import type { Serializer } from "../../serializers/index.js";
import type { ContextInit } from "../../service/types.js";
import { privateDurableStreams } from "../../transporters/memory/streams.js";
import type { Transporter } from "../../transporters/transporter.js";
import { DurableEngine } from "./engine.js";

/** What a node hands over to get its durable-event engine. */
export interface OpenDurableOptions {
  nodeID: string;
  namespace: string;
  serializer: Serializer;
  logger: Logger;
  maxPacketSize: number;
  /** The connected transporter, if the node has one. */
  transporter: Transporter | undefined;
  deliver(listener: LocalListener, init: ContextInit<unknown>): Promise<unknown>;
}

/**
 * The durable-event engine of a node: on the streams of a transporter that has them (amqp://,
 * nats://, redis://, memory://), shared by every node of the namespace; otherwise (tcp://, no
 * transporter) on streams of this node alone, which give its durable handlers retries and dead
 * letters in this process.
 *
 * @example
 * ```ts
 * const engine = openDurableEngine({ nodeID, namespace, serializer, logger, transporter, deliver });
 * ```
 */
export function openDurableEngine(options: OpenDurableOptions): DurableEngine {
  const { transporter, ...deps } = options;
  if (transporter?.capabilities.durable === true && transporter.durableStreams !== undefined) {
    const streams = transporter.durableStreams(options.namespace);
    return new DurableEngine({ ...deps, streams, shared: true });
  }
  const own = privateDurableStreams();
  return new DurableEngine({ ...deps, streams: own.streams, shared: false, release: own.close });
}

/** Says once, at start, when durable handlers run on streams that do not survive a crash. */
export function warnIfDurableInMemory(registry: Registry, logger: Logger): void {
  const durable = registry.listeners.filter((l) => l.definition.durable === true);
  if (durable.length === 0) return;
  logger.warn(
    { events: [...new Set(durable.map((l) => l.event))] },
    "Durable event handlers run without a persistent transporter: retries and dead letters are kept in memory, and events do not survive a crash. Use amqp://, nats:// or redis:// to persist them.",
  );
}

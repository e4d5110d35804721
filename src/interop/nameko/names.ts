/**
 * nameko 2.x's names on RabbitMQ, as `nameko/rpc.py` and `nameko/events.py` spell them: the
 * RPC exchange and queues, reply queues, event exchanges and the queues of each handler type.
 * Two peers agree on these or never meet, so they live in one place.
 */

/** The topic exchange every RPC request and reply goes through (nameko's `rpc_exchange`). */
export const DEFAULT_RPC_EXCHANGE = "nameko-rpc";

/** How long an unused reply queue outlives its consumer (nameko's `RPC_REPLY_QUEUE_TTL`). */
export const REPLY_QUEUE_TTL = 300_000;

/** The queue a service's RPC requests wait in, bound with `<service>.*`. */
export function rpcQueueName(service: string): string {
  return `rpc-${service}`;
}

/** A caller's reply queue, bound with its own `routingKey` (a UUID). */
export function replyQueueName(caller: string, routingKey: string): string {
  return `rpc.reply-${caller}-${routingKey}`;
}

/** The topic exchange a service dispatches its events to; the routing key is the event type. */
export function eventExchangeName(source: string): string {
  return `${source}.events`;
}

/** Flotilla's handler kinds, as nameko's handler types. */
export type HandlerKind = "balanced" | "broadcast" | "single";

/** nameko's name for each kind (`nameko.events.SERVICE_POOL` and the others). */
export const NAMEKO_HANDLER_TYPE: Record<HandlerKind, string> = {
  balanced: "service_pool",
  broadcast: "broadcast",
  single: "singleton",
};

/** Where one handler's copy of `<source>.<type>` events waits, by nameko's rules. */
export interface EventQueueSpec {
  source: string;
  /** The event type: nameko's routing key (`*` and `#` bind patterns). */
  type: string;
  kind: HandlerKind;
  /** nameko's `service_name`: the Flotilla handler's group. */
  group: string;
  /** nameko's `method_name`. */
  method: string;
  /** Tells broadcast queues of instances apart (nameko's `broadcast_identifier`). */
  instance: string;
}

/**
 * The queue name nameko's `EventHandler.setup` would choose: `evt-<source>-<type>--<service>.
 * <method>` for a service pool, `evt-<source>-<type>` for a singleton, and the pool's name plus
 * `-<broadcast_identifier>` for a broadcast handler.
 */
export function eventQueueName(spec: EventQueueSpec): string {
  const base = `evt-${spec.source}-${spec.type}`;
  if (spec.kind === "single") return base;
  const pool = `${base}--${spec.group}.${spec.method}`;
  return spec.kind === "broadcast" ? `${pool}-${spec.instance}` : pool;
}

/**
 * Splits a Flotilla event name into nameko's source service and event type at the first dot:
 * `greeter.greeted` → `greeter` / `greeted`; `shop.spam.ham` → `shop` / `spam.ham` (nameko's
 * event types may contain dots). `undefined` when there is no dot.
 */
export function splitEventName(event: string): { source: string; type: string } | undefined {
  const dot = event.indexOf(".");
  if (dot <= 0 || dot === event.length - 1) return undefined;
  return { source: event.slice(0, dot), type: event.slice(dot + 1) };
}

/** A Flotilla event pattern's type part as an AMQP topic binding (`**` is AMQP's `#`). */
export function bindingKey(type: string): string {
  return type
    .split(".")
    .map((word) => (word === "**" ? "#" : word))
    .join(".");
}

/** The nameko method name our handler of an event type gets in queue names: `handle_<type>`. */
export function handlerMethod(type: string): string {
  return `handle_${type.replace(/\*\*/g, "all").replace(/\*/g, "any").replace(/\./g, "_")}`;
}

import type { Middleware } from "../middleware/hooks.js";
import type { BreakerOptions } from "../middleware/resilience/breaker.js";
import type { BulkheadOptions } from "../middleware/resilience/bulkhead.js";
import type { Fallback } from "../middleware/resilience/fallback.js";
import type { RetryOptions } from "../middleware/resilience/retry.js";
import type { LoggerOption } from "../observability/logger.js";
import type { StrategyOption } from "../registry/strategies/index.js";
import type { Serializer } from "../serializers/index.js";
import type { Transporter } from "../transporters/transporter.js";
import type { Context } from "./context.js";

/** Free-form call metadata, carried down the call chain. Augment it to type your keys. */
export interface Meta {
  [key: string]: unknown;
}

/** Options of one call. */
export interface CallOptions {
  /** Merged over the parent's meta; the merged object travels down the chain. */
  meta?: Meta;
  /** Time budget in ms; defaults to the action's, then what the parent has left, then the broker's. */
  timeout?: number;
  /** The context this call is made from (set for you by `ctx.call`). */
  parentCtx?: Context;
  /** Run on this node only. */
  nodeID?: string;
  /** Correlates all calls of one request; generated at the edge when absent. */
  requestID?: string;
  /** Headers that travel with the call (e.g. `traceparent`); the handler sees them in `ctx.headers`. */
  headers?: Record<string, string>;
  /** Retry after retryable errors this many times, even if the action is not marked idempotent. */
  retries?: number;
  /** Answer with this instead of an error of this call. */
  fallback?: Fallback;
  /** Nodes not to send this call to while others can take it (set by retries). */
  avoidNodeIDs?: readonly string[];
}

/** Options of one emit or broadcast. */
export interface EmitOptions {
  /** Merged over the parent's meta. */
  meta?: Meta;
  /** The context this event is emitted from (set for you by `ctx.emit`). */
  parentCtx?: Context;
  /** Deliver only to these balancing groups (default: every subscribing group). */
  groups?: readonly string[];
  /**
   * Publish to the durable stream even if no durable handler is known yet (one may be down).
   * Events that durable handlers listen to are published durably anyway.
   */
  durable?: boolean;
  /**
   * The durable message's ID (default: a new UUID). Pass the same ID when you retry an emit whose
   * outcome you do not know, so consumers can recognise the duplicate (`ctx.messageID`).
   */
  messageID?: string;
}

/** Options of `new ServiceBroker(...)`. */
export interface BrokerOptions {
  /** Unique name of this node in the cluster. Default: `<hostname>-<pid>-<random>`. */
  nodeID?: string;
  /** Separates clusters that share a transporter. Default `""`. */
  namespace?: string;
  /** `false` silences logs; an object sets the level or forces the readable form; or a pino logger. */
  logger?: LoggerOption;
  /** How nodes reach each other, e.g. `"memory://"`, `"tcp://"`, `"nats://127.0.0.1:4222"`, or a transporter. */
  transporter?: string | Transporter;
  /** How packets are encoded: `"json"` (default) or `"msgpack"`. Every node must use the same. */
  serializer?: "json" | "msgpack" | Serializer;
  /** How a node is picked among several that offer an action. Default `"round-robin"`. */
  strategy?: StrategyOption;
  /** Use this node's own instance of an action when it has one. Default `true`. */
  preferLocal?: boolean;
  /**
   * Who balances calls and emitted events: this node from its registry (`"registry"`, default:
   * enables latency and shard strategies), or the message broker through one queue per service
   * and per event group (`"broker"`, on nats:// and amqp://; on amqp:// the queues are durable,
   * so requests wait for an instance until their deadline).
   */
  balancing?: "registry" | "broker";
  /** How often this node says it is alive, in ms. Default 1 000. */
  heartbeatInterval?: number;
  /** Drop a node silent for this long and fail its pending calls, in ms. Default 4 000. */
  heartbeatTimeout?: number;
  /** Drop packets larger than this, in bytes. Default 16 MiB. */
  maxPacketSize?: number;
  /**
   * Time budget of a call to another node when neither the call nor the action sets one, in ms
   * (0 = none). Default 10 000. Local calls are only timed when a timeout is set explicitly.
   */
  requestTimeout?: number;
  /** Deepest allowed call chain; deeper calls fail with `MaxCallLevelError`. Default 100. */
  maxCallLevel?: number;
  /** How long `start()` waits for a service's dependencies, in ms. Default 30 000. */
  dependencyTimeout?: number;
  /** Validate params against action schemas. Default `true`. */
  validation?: boolean;
  /** Retry settings for idempotent actions (`false`: never retry). Default 2 retries, 50 ms doubling to 2 s. */
  retry?: RetryOptions | false;
  /** Circuit breaker per endpoint (`false`: none). Defaults in docs/resilience.md. */
  circuitBreaker?: BreakerOptions | false;
  /** A bulkhead for every action that does not set its own. Default none. */
  bulkhead?: BulkheadOptions;
  /** How long `stop()` lets in-flight requests and event handlers finish, in ms. Default 10 000. */
  drainTimeout?: number;
  /** Middlewares, outermost last. */
  middlewares?: readonly Middleware[];
}

/** What `broker.health()` reports. */
export interface BrokerHealth {
  nodeID: string;
  state: "created" | "starting" | "started" | "stopping" | "stopped";
  /** The node is running (a probe that gets an answer at all knows the process is alive). */
  live: boolean;
  /** The node takes work: started, not draining, and connected when it has a transporter. */
  ready: boolean;
  transporter: { connected: boolean } | undefined;
  /** Requests from other nodes and event handlers running now. */
  inFlight: number;
  /** Each local service and whether it has started. */
  services: Record<string, "started" | "stopped">;
  /** Seconds since the process started. */
  uptime: number;
}

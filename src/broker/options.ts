import type { BrokerDatabaseOptions } from "../data/config.js";
import type { DatabaseHealth } from "../data/types.js";
import type { CacheHealth, CacherOption } from "../middleware/cache/options.js";
import type { Middleware } from "../middleware/hooks.js";
import type { BreakerOptions } from "../middleware/resilience/breaker.js";
import type { BulkheadOptions } from "../middleware/resilience/bulkhead.js";
import type { RetryOptions } from "../middleware/resilience/retry.js";
import type { ValidationOptions } from "../middleware/validation/middleware.js";
import type { LoggerOption } from "../observability/logger.js";
import type { MetricsOptions } from "../observability/metrics/options.js";
import type { TracingOptions } from "../observability/tracing/options.js";
import type { DeprecatedUse } from "../registry/deprecations.js";
import type { DiscoveryOption } from "../registry/discoverers/index.js";
import type { StrategyOption } from "../registry/strategies/index.js";
import type { SecurityOptions } from "../security/secret.js";
import type { Serializer } from "../serializers/index.js";
import type { Transporter } from "../transporters/transporter.js";

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
  /**
   * Who says which nodes are in the cluster and where they listen: `"local"` (default: over the
   * transporter, with INFO and heartbeat packets), or a registry center by URL:
   * `"etcd://127.0.0.1:2379"` (a cluster: `"etcd://h1:2379,h2:2379"`; keys under `?prefix=`,
   * default `/flotilla`), `"zk://127.0.0.1:2181"`. With a registry, `tcp://` nodes on different
   * hosts find each other's addresses there (no rendezvous directory, no UDP). A node that
   * starts while the registry is down waits for it up to `dependencyTimeout`. See
   * docs/discovery.md.
   */
  discovery?: DiscoveryOption;
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
  /**
   * The largest packet a node sends or takes, in bytes. Default 16 MiB. A call, answer or event
   * over it fails at once with `PacketTooLargeError` (`PACKET_TOO_LARGE`); larger packets from
   * other nodes are dropped.
   */
  maxPacketSize?: number;
  /**
   * Time budget of a call to another node when neither the call nor the action sets one, in ms
   * (0 = none). Default 10 000. Local calls are only timed when a timeout is set explicitly.
   */
  requestTimeout?: number;
  /** Deepest allowed call chain; deeper calls fail with `MaxCallLevelError`. Default 100. */
  maxCallLevel?: number;
  /**
   * How long `start()` waits for a service's dependencies (and for a registry center that cannot
   * be reached), in ms. Default 30 000.
   */
  dependencyTimeout?: number;
  /**
   * Validate params and event payloads against their schemas (default `true`; `false` checks
   * nothing), and results against `returns` schemas: by default everywhere but under
   * `NODE_ENV=production`; `{ results: true }` or `false` decides (see docs/contracts.md).
   */
  validation?: boolean | ValidationOptions;
  /** Retry settings for idempotent actions (`false`: never retry). Default 2 retries, 50 ms doubling to 2 s. */
  retry?: RetryOptions | false;
  /** Circuit breaker per endpoint (`false`: none). Defaults in docs/resilience.md. */
  circuitBreaker?: BreakerOptions | false;
  /** A bulkhead for every action that does not set its own. Default none. */
  bulkhead?: BulkheadOptions;
  /** How long `stop()` lets in-flight requests and event handlers finish, in ms. Default 10 000. */
  drainTimeout?: number;
  /**
   * Lets `replaceService` and `destroyService` swap or remove one service while the node runs,
   * draining that service's running handlers first. Counts each service's running handlers, a
   * small cost on every local call, so it is off unless asked (`flotilla run --watch` asks).
   */
  replaceable?: boolean;
  /** Middlewares, outermost last. */
  middlewares?: readonly Middleware[];
  /**
   * Who may join the cluster: `{ secret }` (or `secretFile`; default `$FLOTILLA_SECRET`, else
   * the file named by `$FLOTILLA_SECRET_FILE`). Nodes without it are refused. See docs/security.md.
   */
  security?: SecurityOptions;
  /**
   * Defaults for the databases of this node's services: `url` (a database for every service that
   * names none) and `dir` (where default SQLite files go). See docs/data.md.
   */
  database?: BrokerDatabaseOptions;
  /**
   * OpenTelemetry tracing. Spans are made whenever an OpenTelemetry SDK is registered when the
   * broker starts; this option decides whether Flotilla installs one: `true` or settings install
   * it, `false` makes no spans at all, and by default it is installed when `$OTEL_TRACES_EXPORTER`
   * names an exporter. See docs/observability.md.
   */
  tracing?: boolean | TracingOptions;
  /**
   * Prometheus metrics of calls, events, resilience, transport, outboxes and the process, read
   * with `broker.metrics.text()` and served on `/metrics` by the health server and, when asked,
   * the gateway. `true` or settings turn them on, `false` off; by default they are off unless
   * `$FLOTILLA_METRICS` is `1` or `true` (`flotilla run --health-port` turns them on). See
   * docs/observability.md.
   */
  metrics?: boolean | MetricsOptions;
  /**
   * Where actions that declare `cache` keep their results: `"memory"` (default: an LRU per node),
   * a Redis URL shared by every node (`"redis://127.0.0.1:6379?prefix=shop:"`), settings
   * (`{ type: "memory", max, maxBytes, ttl }`, `{ type: "redis", ... }`), or `false` to cache
   * nothing. See docs/caching.md.
   */
  cacher?: CacherOption;
}

/** What `broker.health()` reports. */
export interface BrokerHealth {
  nodeID: string;
  state: "created" | "starting" | "started" | "stopping" | "stopped";
  /** The node is running (a probe that gets an answer at all knows the process is alive). */
  live: boolean;
  /** The node takes work: started, not draining, and connected when it has a transporter. */
  ready: boolean;
  /**
   * The transporter's connection, and the packets from other nodes dropped since start because
   * they failed their checks: per peer (the transporter's proven peer, else the claimed sender,
   * else `?`) and reason (`fields`, `body`, `depth`, `size`, ...). See docs/security.md.
   */
  transporter:
    | { connected: boolean; badPackets: Record<string, Record<string, number>> }
    | undefined;
  /** Requests from other nodes and event handlers running now. */
  inFlight: number;
  /** Each local service and whether it has started. */
  services: Record<string, "started" | "stopped">;
  /**
   * The database of each local service that has one: reachable at the last probe (taken with
   * every outbox round, at least once a second), pool use, and the outbox's backlog.
   */
  databases: Record<string, DatabaseHealth>;
  /**
   * Who still calls this node's deprecated actions (and emits to its deprecated event handlers):
   * one row per member, caller and calling node, with the calls counted since start.
   */
  deprecated: DeprecatedUse[];
  /**
   * The action cache: its store (`memory`, `redis`), whether it answers, hits, misses, sets,
   * results JSON cannot carry, cleans, and the same counts per action. Undefined with `cacher: false`.
   */
  cache: CacheHealth | undefined;
  /** Seconds since the process started. */
  uptime: number;
}

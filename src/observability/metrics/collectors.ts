import type * as Prom from "prom-client";
import { getInternals } from "../../broker/internals.js";
import type { BrokerHealth } from "../../broker/options.js";
import type { DatabaseHealth } from "../../data/types.js";
import type { DeadLetters } from "../../events/durable/dead-letters.js";
import type { CacheCounts } from "../../middleware/cache/options.js";
import type { BreakerState } from "../../middleware/resilience/breaker.js";
import { bulkheadOf } from "../../middleware/resilience/bulkhead-middleware.js";
import type { Registry as FlotillaRegistry } from "../../registry/registry.js";
import type { TransitTraffic } from "../../transit/core.js";

/** What the scrape-time collectors read of a broker. */
export interface MetricsHost {
  readonly options: { readonly transporter?: unknown };
  readonly registry: FlotillaRegistry;
  readonly deadLetters: DeadLetters;
  health(): BrokerHealth;
}

/** Circuit states as numbers, so a graph can show them: 0 closed, 1 half-open, 2 open. */
const BREAKER_VALUES: Record<BreakerState, number> = { closed: 0, "half-open": 1, open: 2 };

/**
 * Registers the metrics that show state rather than count events: each is a prom-client metric
 * whose `collect()` reads the broker when Prometheus scrapes (circuit breakers, bulkheads, nodes,
 * outboxes, dead letters, transporter traffic). Nothing of this runs on the call path.
 *
 * @example
 * ```ts
 * registerCollectors(require("prom-client"), registry, "flotilla_", broker, traffic);
 * ```
 */
export function registerCollectors(
  prom: typeof Prom,
  registry: Prom.Registry,
  prefix: string,
  host: MetricsHost,
  traffic: TransitTraffic,
): void {
  const registers = [registry];
  const gauge = (name: string, help: string, labelNames: string[], read: Reader) =>
    new prom.Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames,
      registers,
      collect() {
        // Rebuilt on every scrape: series of what is gone (a node, a breaker) disappear.
        this.reset();
        read((labels, value) => this.set(labels, value));
      },
    });
  const counter = (name: string, help: string, labelNames: string[], read: Reader) =>
    new prom.Counter({
      name: `${prefix}${name}`,
      help,
      labelNames,
      registers,
      collect() {
        // The totals are kept elsewhere (plain numbers): written as they are now.
        this.reset();
        read((labels, value) => this.inc(labels, value));
      },
    });

  gauge(
    "circuit_breaker_state",
    "State of the circuit breaker of each endpoint (action on a node) calls went to: 0 closed, 1 half-open, 2 open. Endpoints that never failed have none (closed).",
    ["action", "node"],
    (set) => {
      const breakers = getInternals(host).transit()?.breakers;
      if (breakers === undefined) return;
      for (const { nodeID, action, state } of breakers.states()) {
        set({ action, node: nodeID }, BREAKER_VALUES[state]);
      }
    },
  );
  gauge(
    "bulkhead_queue_length",
    "Calls waiting for a slot of the bulkhead of this node's actions.",
    ["action"],
    (set) => {
      for (const action of host.registry.actions.values()) {
        const bulkhead = bulkheadOf(action);
        if (bulkhead !== undefined) set({ action: action.name }, bulkhead.queued);
      }
    },
  );
  counter(
    "bulkhead_shed_total",
    "Calls the bulkhead of this node's actions refused at once with QUEUE_FULL (queue full).",
    ["action"],
    (add) => {
      for (const action of host.registry.actions.values()) {
        const bulkhead = bulkheadOf(action);
        if (bulkhead !== undefined) add({ action: action.name }, bulkhead.shed);
      }
    },
  );
  gauge("nodes", "Nodes of the cluster this node knows, itself included.", [], (set) =>
    set({}, 1 + host.registry.remote.nodes.size),
  );
  gauge(
    "dead_letter_backlog",
    "Dead letters waiting, as this node counts them without listing them: exact when they live in this process (tcp://, no transporter); on a shared message broker, what this node made minus what it replayed, set right by each list through it.",
    [],
    (set) => set({}, host.deadLetters.backlog),
  );
  registerOutbox(gauge, counter, host);
  registerTraffic(counter, host, traffic);
  registerDeprecated(counter, host);
  registerCache(counter, gauge, host);
}

type Reader = (add: (labels: Record<string, string>, value: number) => void) => void;
type Register = (name: string, help: string, labelNames: string[], read: Reader) => unknown;

/** The outbox and database of each local service that has one, from `broker.health()`. */
function registerOutbox(gauge: Register, counter: Register, host: MetricsHost): void {
  const each = (read: (db: DatabaseHealth) => number): Reader => {
    return (add) => {
      for (const [service, db] of Object.entries(host.health().databases)) {
        add({ service }, read(db));
      }
    };
  };
  gauge(
    "outbox_backlog",
    "Events committed to a service's outbox and not yet published.",
    ["service"],
    each((db) => db.outbox.backlog),
  );
  gauge(
    "outbox_oldest_age_seconds",
    "Age of the oldest event waiting in a service's outbox, in seconds (0 when none).",
    ["service"],
    each((db) => db.outbox.oldestAge / 1000),
  );
  gauge(
    "outbox_failed",
    "Events of a service's outbox the message broker refused for good (they stay in the table).",
    ["service"],
    each((db) => db.outbox.failed),
  );
  counter(
    "outbox_published_total",
    "Events a service's outbox relay published since the node started.",
    ["service"],
    each((db) => db.outbox.published),
  );
  gauge(
    "database_up",
    "Whether a service's database answered its last probe (1) or not (0).",
    ["service"],
    each((db) => (db.ok ? 1 : 0)),
  );
}

/**
 * Calls of this node's deprecated actions and deliveries to its deprecated event handlers, per
 * caller (a service, or a node for calls from outside any), from `broker.health().deprecated`:
 * who still has to move before the member can go.
 */
function registerDeprecated(counter: Register, host: MetricsHost): void {
  const per = (kind: "action" | "event"): Reader => {
    return (add) => {
      const totals = new Map<string, { name: string; caller: string; calls: number }>();
      for (const use of host.health().deprecated) {
        if (use.kind !== kind) continue;
        const key = `${use.name}\u0000${use.caller}`;
        const total = totals.get(key) ?? { name: use.name, caller: use.caller, calls: 0 };
        total.calls += use.calls;
        totals.set(key, total);
      }
      for (const { name, caller, calls } of totals.values()) add({ [kind]: name, caller }, calls);
    };
  };
  counter(
    "deprecated_calls_total",
    "Calls of this node's deprecated actions, by action and caller (the calling service, or the node for calls made outside any service).",
    ["action", "caller"],
    per("action"),
  );
  counter(
    "deprecated_events_total",
    "Deliveries to this node's deprecated event handlers, by event and emitter (the emitting service, or its node).",
    ["event", "caller"],
    per("event"),
  );
}

/**
 * The action cache, from `broker.health().cache` (plain numbers kept by the cache, so a hit
 * costs the call one addition): hits, misses and stores per action, cleans, and whether the
 * store answers.
 */
function registerCache(counter: Register, gauge: Register, host: MetricsHost): void {
  const per = (read: (c: CacheCounts) => number): Reader => {
    return (add) => {
      const actions = host.health().cache?.actions ?? {};
      for (const [action, counts] of Object.entries(actions)) add({ action }, read(counts));
    };
  };
  counter(
    "cache_hits_total",
    "Calls answered from the action cache.",
    ["action"],
    per((c) => c.hits),
  );
  counter(
    "cache_misses_total",
    "Calls the action cache had no result for (the handler ran, or the call waited for the one that ran it).",
    ["action"],
    per((c) => c.misses),
  );
  counter(
    "cache_sets_total",
    "Results stored in the action cache.",
    ["action"],
    per((c) => c.sets),
  );
  counter(
    "cache_uncacheable_total",
    "Results not cached because JSON cannot carry them (CACHE_VALUE_NOT_SERIALIZABLE).",
    ["action"],
    per((c) => c.uncacheable),
  );
  counter("cache_cleans_total", "Calls of cache.clean() on this node.", [], (add) => {
    const cache = host.health().cache;
    if (cache !== undefined) add({}, cache.cleans);
  });
  gauge(
    "cache_connected",
    "Whether the action cache's store answers (1) or not (0: a Redis outage; calls run their handlers).",
    ["cacher"],
    (set) => {
      const cache = host.health().cache;
      if (cache !== undefined) set({ cacher: cache.cacher }, cache.connected ? 1 : 0);
    },
  );
}

/** Packets and bytes through the transporter, read from transit's plain counters. */
function registerTraffic(counter: Register, host: MetricsHost, traffic: TransitTraffic): void {
  const one = (read: (t: TransitTraffic) => number): Reader => {
    return (add) => {
      // None before the node first connects, or when it has no transporter.
      if (host.options.transporter === undefined) return;
      add({ transporter: transporterName(host.options.transporter) }, read(traffic));
    };
  };
  const what =
    "through the transporter: calls, answers, events, discovery and heartbeats (not the messages of durable streams)";
  counter(
    "transit_packets_sent_total",
    `Packets sent ${what}.`,
    ["transporter"],
    one((t) => t.packetsSent),
  );
  counter(
    "transit_bytes_sent_total",
    `Bytes of packets sent ${what}.`,
    ["transporter"],
    one((t) => t.bytesSent),
  );
  counter(
    "transit_packets_received_total",
    `Packets received ${what}, bad ones included.`,
    ["transporter"],
    one((t) => t.packetsReceived),
  );
  counter(
    "transit_bytes_received_total",
    `Bytes of packets received ${what}, bad ones included.`,
    ["transporter"],
    one((t) => t.bytesReceived),
  );
}

/**
 * The `transporter` label: the URL scheme (`tcp`, `nats`, `amqp`, `redis`, `memory`), or the
 * class of a transporter object.
 */
export function transporterName(transporter: unknown): string {
  if (typeof transporter === "string") {
    const scheme = transporter.split("://")[0]?.toLowerCase() ?? "";
    return scheme === "" ? "unknown" : scheme;
  }
  const name = (transporter as { constructor?: { name?: string } } | null)?.constructor?.name;
  return name === undefined || name === "" || name === "Object" ? "custom" : name;
}

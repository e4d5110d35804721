import { CounterFamily, HistogramFamily } from "./series.js";

/**
 * The metrics fed on the hot path (by the metrics middleware): counters, latency histograms and
 * the in-flight gauge, each a family of plain cells (see `series.ts`).
 */
export interface Instruments {
  /** Calls this node's actions handled: `action`, `caller` (node), `code` (`OK` or the error's). */
  readonly handled: CounterFamily;
  /** How long this node's actions took, in seconds: `action`. */
  readonly handlerDuration: HistogramFamily;
  /** Calls this node's actions are handling now: `action`. */
  readonly inFlight: CounterFamily;
  /** Calls made from this node (`broker.call`, `ctx.call`): `action`, `code`. */
  readonly made: CounterFamily;
  /** How long calls made from this node took, as the caller saw it, in seconds: `action`. */
  readonly callDuration: HistogramFamily;
  /** Events emitted from this node: `event`, `operation` (`emit` or `broadcast`). */
  readonly emitted: CounterFamily;
  /** Event deliveries this node's handlers took: `event` (the handler's name or pattern), `group`, `code`. */
  readonly eventsHandled: CounterFamily;
  /** Failed deliveries to durable handlers that will be tried again: `event`, `group`. */
  readonly retries: CounterFamily;
  /** Deliveries to durable handlers that gave up and became dead letters: `event`, `group`. */
  readonly deadLetters: CounterFamily;
}

/**
 * Makes the hot-path metrics, named with `prefix`, the histograms with `buckets` (seconds).
 *
 * @example
 * ```ts
 * const instruments = createInstruments("flotilla_", DEFAULT_BUCKETS);
 * for (const metric of allInstruments(instruments)) registry.registerMetric(metric);
 * ```
 */
export function createInstruments(prefix: string, buckets: readonly number[]): Instruments {
  const p = prefix;
  return {
    handled: new CounterFamily(
      `${p}calls_handled_total`,
      "Calls handled by this node's actions, by action, caller node and outcome code (OK or the error's code).",
      ["action", "caller", "code"],
    ),
    handlerDuration: new HistogramFamily(
      `${p}handler_duration_seconds`,
      "Time this node's actions took to handle a call, in seconds.",
      ["action"],
      buckets,
    ),
    inFlight: new CounterFamily(
      `${p}calls_in_flight`,
      "Calls this node's actions are handling now.",
      ["action"],
      "gauge",
    ),
    made: new CounterFamily(
      `${p}calls_made_total`,
      "Calls made from this node (broker.call, ctx.call), by action and outcome code.",
      ["action", "code"],
    ),
    callDuration: new HistogramFamily(
      `${p}call_duration_seconds`,
      "Time calls made from this node took, as the caller saw it (retries included), in seconds.",
      ["action"],
      buckets,
    ),
    emitted: new CounterFamily(
      `${p}events_emitted_total`,
      "Events emitted from this node, by event and operation (emit or broadcast); internal $ events are not counted.",
      ["event", "operation"],
    ),
    eventsHandled: new CounterFamily(
      `${p}events_handled_total`,
      "Event deliveries handled by this node's handlers, by the handler's event name or pattern, group and outcome code.",
      ["event", "group", "code"],
    ),
    retries: new CounterFamily(
      `${p}durable_retries_total`,
      "Failed deliveries to durable event handlers that will be tried again.",
      ["event", "group"],
    ),
    deadLetters: new CounterFamily(
      `${p}dead_letters_total`,
      "Deliveries to durable event handlers that gave up and became dead letters.",
      ["event", "group"],
    ),
  };
}

/** Every metric of `instruments`, to register. */
export function allInstruments(instruments: Instruments): (CounterFamily | HistogramFamily)[] {
  return Object.values(instruments);
}

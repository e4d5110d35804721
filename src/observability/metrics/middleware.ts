import { outcome } from "../../events/durable/policy.js";
import type { CallHandler, EmitHandler, Middleware } from "../../middleware/hooks.js";
import type { ActionHandler, EventHandler, LocalListener } from "../../registry/local.js";
import type { Instruments } from "./instruments.js";
import { errorCode, LabelCap, OK, OTHER } from "./labels.js";
import type { Cell, CounterFamily, HistogramCell } from "./series.js";

/**
 * Counts and times calls and events, handler side (`localAction`, `localEvent`) and caller side
 * (`call`, `emit`, `broadcast`). Every label set's cell is found once, when a handler is wrapped
 * or the first time a name is seen, so a call only reads the clock twice and adds to numbers.
 * Label values stay bounded: actions and events of handlers come from this node's definitions;
 * names called or emitted, caller nodes and error codes go through a {@link LabelCap}.
 *
 * The broker adds it only when metrics are on: with metrics off nothing is wrapped.
 *
 * @example
 * ```ts
 * pipeline.add(metricsMiddleware(createInstruments("flotilla_", DEFAULT_BUCKETS)));
 * ```
 */
export function metricsMiddleware(m: Instruments): Middleware {
  // Shared by every wrapper of this middleware, so wrapping again (broker.use) keeps the bounds.
  const caps: Caps = {
    called: new LabelCap(),
    emitted: new LabelCap(),
    callers: new LabelCap(),
    codes: new LabelCap(100),
  };
  return {
    name: "metrics",
    localAction: (next, action) => handledAction(next, action.name, m, caps),
    localEvent: (next, listener) => handledEvent(next, listener, m, caps),
    call: (next) => measuredCall(next, m, caps),
    emit: (next) => countedEmit(next, "emit", m.emitted, caps.emitted),
    broadcast: (next) => countedEmit(next, "broadcast", m.emitted, caps.emitted),
  };
}

/** The bounds of the labels fed by names from outside. */
interface Caps {
  /** Actions called by name (they may not exist). */
  readonly called: LabelCap;
  /** Events emitted. */
  readonly emitted: LabelCap;
  /** Nodes that called this node's actions. */
  readonly callers: LabelCap;
  /** Error codes (FlotillaError codes are a fixed catalogue plus the application's own). */
  readonly codes: LabelCap;
}

/**
 * The clock reading of a call entering `next` right now. A local call reaches its handler in
 * the same synchronous stack (caller wrapper, retries, routing, handler wrapper), so the handler
 * takes this reading as its own start instead of reading the clock again: one read saved per
 * local call. Set and cleared around `next` only, so it is never a reading of another call.
 */
let entering: number | undefined;

/** Seconds since `start` (a `performance.now()`). */
function since(start: number): number {
  return (performance.now() - start) / 1000;
}

/** Success cells of one action per caller node, the last caller's at hand. */
class HandledCells {
  #caller = "";
  #ok: Cell | undefined;
  readonly #byCaller = new Map<string, Cell>();

  constructor(
    private readonly family: CounterFamily,
    private readonly action: string,
    private readonly caps: Caps,
  ) {}

  ok(caller: string): Cell {
    if (caller === this.#caller && this.#ok !== undefined) return this.#ok;
    let cell = this.#byCaller.get(caller);
    if (cell === undefined) {
      const label = this.caps.callers.value(caller);
      cell = this.family.cell(this.action, label, OK);
      // Callers past the cap share the "other" cell, and are not remembered one by one.
      if (label !== OTHER) this.#byCaller.set(caller, cell);
    }
    this.#caller = caller;
    this.#ok = cell;
    return cell;
  }

  failed(caller: string, err: unknown): Cell {
    const code = this.caps.codes.value(errorCode(err));
    return this.family.cell(this.action, this.caps.callers.value(caller), code);
  }
}

function handledAction(next: ActionHandler, name: string, m: Instruments, caps: Caps) {
  const inFlight = m.inFlight.cell(name);
  const duration = m.handlerDuration.cell(name);
  const outcomes = new HandledCells(m.handled, name, caps);
  const done = (caller: string, start: number): void => {
    inFlight.value--;
    duration.observe(since(start));
    outcomes.ok(caller).value++;
  };
  const failed = (caller: string, start: number, err: unknown): void => {
    inFlight.value--;
    duration.observe(since(start));
    outcomes.failed(caller, err).value++;
  };
  return ((ctx) => {
    const start = entering ?? performance.now();
    entering = undefined;
    const caller = ctx.callerNodeID;
    inFlight.value++;
    let result: unknown;
    try {
      result = next(ctx);
    } catch (err) {
      failed(caller, start, err);
      throw err;
    }
    if (!(result instanceof Promise)) {
      done(caller, start);
      return result;
    }
    return result.then(
      (value: unknown) => {
        done(caller, start);
        return value;
      },
      (err: unknown) => {
        failed(caller, start, err);
        throw err;
      },
    );
  }) satisfies ActionHandler;
}

function handledEvent(next: EventHandler, listener: LocalListener, m: Instruments, caps: Caps) {
  const { event, group } = listener;
  const ok = m.eventsHandled.cell(event, group, OK);
  const durable = listener.definition.durable === true;
  const failed = (attempt: number | undefined, err: unknown): void => {
    m.eventsHandled.cell(event, group, caps.codes.value(errorCode(err))).value++;
    if (!durable) return;
    // What the durable engine does next, by the same policy it applies to what was thrown.
    const next = outcome(listener.definition, attempt ?? 1, err);
    if (next.kind === "retry") m.retries.cell(event, group).value++;
    else if (next.kind === "dead-letter") m.deadLetters.cell(event, group).value++;
  };
  return ((ctx) => {
    let result: unknown;
    try {
      result = next(ctx);
    } catch (err) {
      failed(ctx.attempt, err);
      throw err;
    }
    if (!(result instanceof Promise)) {
      ok.value++;
      return result;
    }
    return result.then(
      (value: unknown) => {
        ok.value++;
        return value;
      },
      (err: unknown) => {
        failed(ctx.attempt, err);
        throw err;
      },
    );
  }) satisfies EventHandler;
}

/** The caller-side cells of one action label. */
interface CallCells {
  readonly label: string;
  readonly ok: Cell;
  readonly duration: HistogramCell;
}

function measuredCall(next: CallHandler, m: Instruments, caps: Caps): CallHandler {
  const byName = new Map<string, CallCells>();
  const cellsOf = (name: string): CallCells => {
    const label = caps.called.value(name);
    let cells = byName.get(label);
    if (cells === undefined) {
      cells = { label, ok: m.made.cell(label, OK), duration: m.callDuration.cell(label) };
      byName.set(label, cells);
    }
    return cells;
  };
  const failed = (cells: CallCells, start: number, err: unknown): void => {
    cells.duration.observe(since(start));
    m.made.cell(cells.label, caps.codes.value(errorCode(err))).value++;
  };
  return (name, params, opts) => {
    const cells = byName.get(name) ?? cellsOf(name);
    const start = performance.now();
    entering = start;
    let result: Promise<unknown>;
    try {
      result = next(name, params, opts);
    } catch (err) {
      failed(cells, start, err);
      throw err;
    } finally {
      entering = undefined;
    }
    return result.then(
      (value) => {
        cells.duration.observe(since(start));
        cells.ok.value++;
        return value;
      },
      (err: unknown) => {
        failed(cells, start, err);
        throw err;
      },
    );
  };
}

function countedEmit(
  next: EmitHandler,
  operation: "emit" | "broadcast",
  family: CounterFamily,
  cap: LabelCap,
): EmitHandler {
  const byEvent = new Map<string, Cell>();
  const cellOf = (event: string): Cell => {
    const label = cap.value(event);
    let cell = byEvent.get(label);
    if (cell === undefined) {
      cell = family.cell(label, operation);
      byEvent.set(label, cell);
    }
    return cell;
  };
  return (event, payload, opts) => {
    // Internal events ($node.connected, ...) are the node's own business: not counted.
    if (event.charCodeAt(0) !== 36) (byEvent.get(event) ?? cellOf(event)).value++;
    return next(event, payload, opts);
  };
}

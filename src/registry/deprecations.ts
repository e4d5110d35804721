import type { Middleware } from "../middleware/hooks.js";
import type { Logger } from "../observability/logger.js";
import type { Context } from "../service/types.js";
import type { Deprecation } from "./catalog.js";

/**
 * One caller of one deprecated action (or emitter of an event to a deprecated handler), as this
 * node counted it: what `broker.health().deprecated` lists and `flotilla contracts deprecated`
 * gathers from every node.
 */
export interface DeprecatedUse {
  /** `"action"`, or `"event"` for a deprecated event handler. */
  readonly kind: "action" | "event";
  /** The action (`v1.users.get`) or event (`user.created`) name. */
  readonly name: string;
  /** What the definition says to use instead, when it says (`deprecated: "use v2.users.get"`). */
  readonly hint: string | undefined;
  /**
   * Who called: the calling service's full name, or, for a call made outside any service (a
   * script, the CLI, a test), the calling node's ID.
   */
  readonly caller: string;
  /** The node the calls came from. */
  readonly callerNodeID: string;
  /** Calls (or deliveries) counted since this node started. */
  readonly calls: number;
}

/** `true`, a non-empty hint, or `undefined` for a definition that is not deprecated. */
export function deprecationOf(value: unknown): Deprecation | undefined {
  if (value === true) return true;
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Distinct (member, caller, node) rows one node keeps. Callers' names come from other nodes'
 * packets, so the table is bounded: past it, new callers are counted under `other`.
 */
const MAX_ROWS = 1_000;

interface Row {
  kind: "action" | "event";
  name: string;
  hint: string | undefined;
  caller: string;
  callerNodeID: string;
  calls: number;
}

/**
 * Counts calls to this node's deprecated actions and event handlers per caller, and warns once
 * per member and caller, so the owner of a deprecated action learns who still needs it (and
 * when nobody does, that it can go).
 *
 * @example
 * ```ts
 * const log = new DeprecationLog();
 * pipeline.add(deprecationMiddleware(log));
 * log.list(); // [{ kind: "action", name: "v1.users.get", caller: "orders", calls: 3, ... }]
 * ```
 */
export class DeprecationLog {
  readonly #rows = new Map<string, Row>();
  readonly #warned = new Set<string>();

  /** Counts one call of a deprecated member; the first from a caller is logged as a warning. */
  record(
    kind: "action" | "event",
    name: string,
    deprecation: Deprecation,
    ctx: Pick<Context<unknown>, "caller" | "callerNodeID">,
    logger: Logger,
  ): void {
    const hint = deprecation === true ? undefined : deprecation;
    let caller = ctx.caller ?? ctx.callerNodeID;
    let callerNodeID = ctx.callerNodeID;
    let key = `${kind}\u0000${name}\u0000${caller}\u0000${callerNodeID}`;
    let row = this.#rows.get(key);
    if (row === undefined && this.#rows.size >= MAX_ROWS) {
      caller = "other";
      callerNodeID = "other";
      key = `${kind}\u0000${name}\u0000other\u0000other`;
      row = this.#rows.get(key);
    }
    if (row === undefined) {
      row = { kind, name, hint, caller, callerNodeID, calls: 0 };
      this.#rows.set(key, row);
    }
    row.calls += 1;
    const warnKey = `${kind}\u0000${name}\u0000${caller}`;
    if (this.#warned.has(warnKey) || this.#warned.size >= MAX_ROWS) return;
    this.#warned.add(warnKey);
    const what = kind === "action" ? `action '${name}' called` : `handler of '${name}' reached`;
    logger.warn(
      { [kind]: name, caller, callerNodeID, deprecated: hint ?? true },
      `Deprecated ${what} by '${caller}'${hint === undefined ? "" : ` (${hint})`}; ` +
        "counted in broker.health().deprecated, warned once per caller",
    );
  }

  /** Every caller counted so far, by member then caller. */
  list(): DeprecatedUse[] {
    return [...this.#rows.values()]
      .map((row) => ({ ...row }))
      .sort(
        (a, b) =>
          a.name.localeCompare(b.name) ||
          a.caller.localeCompare(b.caller) ||
          a.callerNodeID.localeCompare(b.callerNodeID),
      );
  }
}

/**
 * Counts calls of deprecated actions and deliveries to deprecated event handlers in `log`.
 * Members that are not deprecated keep their handler as it is: nothing on their path.
 */
export function deprecationMiddleware(log: DeprecationLog): Middleware {
  return {
    name: "deprecation",
    localAction(next, action) {
      const deprecation = deprecationOf(action.definition.deprecated);
      if (deprecation === undefined) return next;
      const logger = action.service.logger;
      return (ctx) => {
        log.record("action", action.name, deprecation, ctx, logger);
        return next(ctx);
      };
    },
    localEvent(next, listener) {
      const deprecation = deprecationOf(listener.definition.deprecated);
      if (deprecation === undefined) return next;
      const logger = listener.service.logger;
      return (ctx) => {
        log.record("event", listener.event, deprecation, ctx, logger);
        return next(ctx);
      };
    },
  };
}

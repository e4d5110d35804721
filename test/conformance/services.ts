import { type Context, defineService, FlotillaError, registerErrorClass } from "flotilla";
import { z } from "zod";

/** A custom error class that must cross the wire as itself. */
export class OutOfStockError extends FlotillaError {
  constructor(sku: string) {
    super(`${sku} is out of stock`, "OUT_OF_STOCK", 409, { data: { sku } });
  }
}
registerErrorClass(OutOfStockError);

/** Releases every `gate.hold` call waiting; lets tests keep calls in flight without sleeping. */
export class Gate {
  #waiting: (() => void)[] = [];
  readonly entered: { count: number } = { count: 0 };
  hold(): Promise<void> {
    this.entered.count++;
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  open(): void {
    for (const release of this.#waiting.splice(0)) release();
  }
}

/** The service the suite calls on remote nodes. */
export function echoService(nodeTag: string, gate = new Gate()) {
  return defineService({
    name: "echo",
    actions: {
      say: { handler: (ctx: Context) => ({ params: ctx.params, node: nodeTag }) },
      size: {
        handler: (ctx: Context) => ({ length: String(ctx.params.blob).length, node: nodeTag }),
      },
      grow: { handler: (ctx: Context) => "x".repeat(Number(ctx.params.length)) },
      ctx: {
        handler: (ctx: Context) => ({
          meta: ctx.meta,
          requestID: ctx.requestID,
          parentID: ctx.parentID,
          level: ctx.level,
          caller: ctx.caller,
          callerNodeID: ctx.callerNodeID,
          remaining: ctx.remaining,
          headers: ctx.headers,
        }),
      },
      typed: {
        params: z.object({ qty: z.number().int().positive() }),
        handler: (ctx) => ctx.params.qty,
      },
      stock: {
        handler() {
          throw new OutOfStockError("A-1");
        },
      },
      bug: {
        handler() {
          throw new TypeError("undefined is not a function");
        },
      },
      hold: { handler: () => gate.hold().then(() => nodeTag) },
      slow: { handler: () => new Promise((r) => setTimeout(() => r("late"), 300)) },
      local: { visibility: "protected", handler: () => "protected" },
      unserializable: {
        handler() {
          const cyclic: Record<string, unknown> = {};
          cyclic.self = cyclic;
          return cyclic;
        },
      },
    },
  });
}

/** A service on the calling side that calls on, to check what travels down a chain. */
export const relay = defineService({
  name: "relay",
  actions: {
    ctx: {
      handler: (ctx: Context) =>
        ctx.call(
          "echo.ctx",
          {},
          { meta: { added: true }, headers: { traceparent: "00-abc-def-01" } },
        ),
    },
    budget: { timeout: 2000, handler: (ctx: Context) => ctx.call("echo.ctx") },
  },
});

/** Records event deliveries per node. */
export function listenerService(name: string, nodeTag: string, log: string[], group?: string) {
  return defineService({
    name,
    events: {
      "order.*": {
        group,
        handler: (ctx: Context) =>
          void log.push(`${name}@${nodeTag}:${ctx.name}:${String(ctx.params.id)}`),
      },
    },
  });
}

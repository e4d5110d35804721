import type { Context } from "../../service/types.js";
import type { Middleware } from "../hooks.js";
import { isStandardSchema, validate } from "./standard.js";

/**
 * Validates params of actions and payloads of events that declare a schema, before the handler
 * runs; invalid input never reaches the handler. Handlers without a schema are not wrapped.
 */
export function validationMiddleware(): Middleware {
  return {
    name: "validation",
    localAction(next, action) {
      const schema = action.definition.params;
      if (!isStandardSchema(schema)) return next;
      const what = `params of '${action.name}'`;
      return (ctx: Context<unknown>) => {
        const out = validate(schema, ctx.params, what);
        if (out instanceof Promise) {
          return out.then((value) => {
            ctx.params = value;
            return next(ctx);
          });
        }
        ctx.params = out;
        return next(ctx);
      };
    },
    localEvent(next, listener) {
      const schema = listener.definition.params;
      if (!isStandardSchema(schema)) return next;
      const what = `payload of event '${listener.event}' for '${listener.service.fullName}'`;
      return async (ctx: Context<unknown>) => {
        ctx.params = await validate(schema, ctx.params, what);
        return next(ctx);
      };
    },
  };
}

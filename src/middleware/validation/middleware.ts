import type { StandardSchemaV1 } from "@standard-schema/spec";
import { ResultInvalidError } from "../../errors/index.js";
import type { ActionHandler } from "../../registry/local.js";
import type { Context } from "../../service/types.js";
import type { Middleware } from "../hooks.js";
import { type IssuesError, isStandardSchema, validate } from "./standard.js";

/** What the validation middleware checks (the broker's `validation` option, as an object). */
export interface ValidationOptions {
  /**
   * Check each result against its action's `returns` schema, failing the call with
   * `RESULT_INVALID` when it does not match. Default: on, unless `NODE_ENV` is `production`;
   * `FLOTILLA_VALIDATE_RESULTS=1` (or `0`) decides when this option is not set.
   */
  results?: boolean;
}

/**
 * Whether results are checked: the option, else `FLOTILLA_VALIDATE_RESULTS`, else everywhere but
 * in production (a result check costs a schema pass per call; development and tests are where
 * a drifting handler should be caught).
 */
export function checksResults(
  options: ValidationOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (options.results !== undefined) return options.results;
  const forced = env.FLOTILLA_VALIDATE_RESULTS?.trim().toLowerCase();
  if (forced === "1" || forced === "true") return true;
  if (forced === "0" || forced === "false") return false;
  return env.NODE_ENV !== "production";
}

/**
 * Validates params of actions and payloads of events that declare a schema, before the handler
 * runs; invalid input never reaches the handler. Results of actions that declare `returns` are
 * checked after it, when {@link checksResults} says so. Handlers without a schema are not wrapped.
 */
export function validationMiddleware(options: ValidationOptions = {}): Middleware {
  const results = checksResults(options);
  return {
    name: "validation",
    localAction(next, action) {
      const returns = action.definition.returns;
      const inner =
        results && isStandardSchema(returns)
          ? checkResult(next, returns, `result of '${action.name}'`)
          : next;
      const schema = action.definition.params;
      if (!isStandardSchema(schema)) return inner;
      const what = `params of '${action.name}'`;
      return (ctx: Context<unknown>) => {
        const out = validate(schema, ctx.params, what);
        if (out instanceof Promise) {
          return out.then((value) => {
            ctx.params = value;
            return inner(ctx);
          });
        }
        ctx.params = out;
        return inner(ctx);
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

const invalidResult: IssuesError = (message, issues) => new ResultInvalidError(message, issues);

/**
 * Checks what the handler returns, and hands on the handler's own value: a result schema is a
 * promise about the answer, never a transformation of it, so turning the check off (production)
 * changes no answer. A sync handler with a sync schema stays sync.
 */
function checkResult(next: ActionHandler, schema: StandardSchemaV1, what: string): ActionHandler {
  const check = (value: unknown): unknown => {
    const out = validate(schema, value, what, invalidResult);
    return out instanceof Promise ? out.then(() => value) : value;
  };
  return (ctx) => {
    const result = next(ctx);
    return result instanceof Promise ? result.then(check) : check(result);
  };
}

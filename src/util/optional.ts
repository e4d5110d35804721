import { createRequire } from "node:module";
import { MissingDependencyError } from "../errors/index.js";

// The one loader of optional packages (broker clients, msgpackr): each is imported on first use,
// and a missing one fails with `MISSING_DEPENDENCY` and the exact `npm install` line to run.

/** Whether `err` says that `name` itself (not something it imports) is not installed. */
export function isMissingModule(err: unknown, name: string): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    typeof message === "string" &&
    message.includes(`'${name}'`)
  );
}

/** `cause` as thrown, or the install line when it says that `name` is not installed. */
function explain(cause: unknown, name: string, purpose: string): unknown {
  return isMissingModule(cause, name)
    ? new MissingDependencyError(name, purpose, { cause })
    : cause;
}

/**
 * A loader for an optional peer dependency: imports it on first use and caches it; when it is not
 * installed, fails with `MISSING_DEPENDENCY` and the `npm install` line (and forgets the failure,
 * so installing it later helps). Other import errors pass on as they are: `npm install` would not
 * fix them.
 *
 * @example
 * ```ts
 * const loadRedis = optionalDependency("ioredis", "The redis transporter", () => import("ioredis"));
 * const { Redis } = await loadRedis();
 * ```
 */
export function optionalDependency<T>(
  name: string,
  purpose: string,
  load: () => Promise<T>,
): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((cause: unknown) => {
      loading = undefined;
      throw explain(cause, name, purpose);
    });
    return loading;
  };
}

/**
 * The same loader for a package needed synchronously: `require`s it on first use. Only for what
 * must be settled in a constructor, which is the serializer's case: `new ServiceBroker({
 * serializer: "msgpack" })` fails right there without `msgpackr`, as it does for an unknown
 * serializer name, not at `start()` after services were created; and packets are encoded on
 * paths that do not await. `msgpackr` ships a CommonJS build, so `require` finds it.
 *
 * @example
 * ```ts
 * const loadMsgpackr = optionalDependencySync<MsgpackrModule>("msgpackr", "The msgpack serializer");
 * const { Packr } = loadMsgpackr();
 * ```
 */
export function optionalDependencySync<T>(name: string, purpose: string): () => T {
  let loaded: T | undefined;
  return () => {
    if (loaded === undefined) {
      try {
        loaded = require(name) as T;
      } catch (cause) {
        throw explain(cause, name, purpose);
      }
    }
    return loaded;
  };
}

const require = createRequire(import.meta.url);

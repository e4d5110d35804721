import { FlotillaError } from "../errors/index.js";

/** Whether `err` says that `name` itself (not something it imports) is not installed. */
export function isMissingModule(err: unknown, name: string): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    typeof message === "string" &&
    message.includes(`'${name}'`)
  );
}

/** The error for an optional package that is not installed: says the exact line to run. */
export function missingDependency(name: string, purpose: string, cause?: unknown): FlotillaError {
  return new FlotillaError(
    `${purpose} needs the '${name}' package, which is not installed. Run:\nnpm install ${name}`,
    "MISSING_DEPENDENCY",
    500,
    { cause, data: { package: name } },
  );
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
      throw isMissingModule(cause, name) ? missingDependency(name, purpose, cause) : cause;
    });
    return loading;
  };
}

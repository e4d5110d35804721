import { WaitTimeoutError } from "../errors/index.js";
import type { Registry } from "./registry.js";

/**
 * Resolves once every named service is available in the registry; rejects with
 * `WaitTimeoutError` naming the missing ones after `timeout` ms (0: never), or with the
 * signal's reason when aborted. Wakes on registry changes, never polls.
 */
export function waitForAvailable(
  registry: Registry,
  wanted: readonly string[],
  timeout: number,
  signal?: AbortSignal,
): Promise<void> {
  const missing = () => wanted.filter((name) => !registry.isAvailable(name));
  if (missing().length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const finish = (err?: unknown) => {
      unwatch();
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => finish(signal?.reason ?? new Error("aborted"));
    const unwatch = registry.watch(() => {
      if (missing().length === 0) finish();
    });
    const timer =
      timeout > 0
        ? setTimeout(
            () => finish(new WaitTimeoutError(`services ${missing().join(", ")}`, timeout)),
            timeout,
          )
        : undefined;
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// node:timers, not the globals: vi.useFakeTimers() replaces the globals (and Date), and a test
// may wait in real time for real I/O (a socket, a child process) while its clock is fake.
import { clearTimeout, setTimeout } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";
import { inspect } from "node:util";

/** How long {@link until} waits, how often it looks, and what it names when it gives up. */
export interface UntilOptions {
  /** Milliseconds before it fails; 5,000 unless told. */
  timeout?: number;
  /** Milliseconds between two looks; 10 unless told. */
  interval?: number;
  /** What is awaited, for the failure message; the predicate's source unless told. */
  message?: string;
}

type Truthy<T> = Exclude<T, false | 0 | "" | null | undefined>;

/**
 * Polls `predicate` until it returns a truthy value, and resolves to that value. For state that
 * raises no event (a registry filling up, a queue depth, a file on disk); where there is an event
 * or a callback, wait on that instead. An error thrown by the predicate ends the wait at once.
 * After `timeout` ms it fails naming what it waited for and the last value it saw.
 *
 * It waits in real time, also under `vi.useFakeTimers()` (for real I/O while the clock is fake);
 * to wait on a timer of the code under test, advance the fake clock instead.
 *
 * @example
 * ```ts
 * await until(() => runs.length >= 3, { message: "three runs" });
 * const letters = await until(async () => {
 *   const list = await broker.deadLetters.list();
 *   return list.length > 0 && list;
 * }, { timeout: 10_000 });
 * ```
 */
export async function until<T>(
  predicate: () => T | Promise<T>,
  { timeout = 5_000, interval = 10, message }: UntilOptions = {},
): Promise<Truthy<T>> {
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
  }, timeout);
  try {
    for (;;) {
      const value = await predicate();
      if (value) return value as Truthy<T>;
      if (expired) {
        const what = message ?? predicate.toString();
        const last = inspect(value, { depth: 3, breakLength: Infinity, maxStringLength: 500 });
        throw new Error(`timed out after ${timeout} ms waiting for ${what} (last value: ${last})`);
      }
      await sleep(interval);
    }
  } finally {
    clearTimeout(timer);
  }
}

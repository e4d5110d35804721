import { performance } from "node:perf_hooks";
import { errorToPlain } from "../../errors/index.js";
import { showBar } from "./bar.js";
import { Histogram } from "./histogram.js";
import type { Screen } from "./screen.js";

/** How long a bench runs and how hard it pushes. */
export interface BenchPlan {
  /** Stop after this many ms (5,000 when neither this nor `count` is given). */
  duration?: number | undefined;
  /** Stop after this many calls. */
  count?: number | undefined;
  /** Calls in flight at once. */
  concurrency: number;
}

/** What a bench measured. */
export interface BenchResult {
  calls: number;
  /** Failed calls by error code. */
  errors: Record<string, number>;
  elapsedMs: number;
  /** Calls ended per second (failed ones too). */
  rate: number;
  latency: Histogram;
  /** Ended by Ctrl-C before the plan was done. */
  cancelled: boolean;
}

/**
 * Calls `call` again and again, `concurrency` at a time, until the duration passes, the count is
 * reached or `signal` aborts (then it returns at once, not waiting for calls in flight; `call`
 * gets `signal` to cancel them). Shows a
 * progress bar on `progress` when it is a terminal.
 *
 * @example
 * ```ts
 * const result = await bench(() => broker.call("math.add", { a: 1, b: 2 }), { count: 1000, concurrency: 10 }, signal);
 * ```
 */
export async function bench(
  call: (signal: AbortSignal) => Promise<unknown>,
  plan: BenchPlan,
  signal: AbortSignal,
  progress?: Pick<NodeJS.WriteStream, "write" | "isTTY">,
): Promise<BenchResult> {
  const duration = plan.duration ?? (plan.count === undefined ? 5000 : undefined);
  const latency = new Histogram();
  const errors: Record<string, number> = {};
  let started = 0;
  let ended = 0;
  const begin = performance.now();
  const stop = new AbortController();
  const stopAll = () => stop.abort();
  signal.addEventListener("abort", stopAll, { once: true });
  const timer = duration === undefined ? undefined : setTimeout(stopAll, duration);
  const elapsed = () => performance.now() - begin;
  const bar = progress
    ? showBar(progress, () => ({
        fraction: Math.max(
          duration === undefined ? 0 : elapsed() / duration,
          plan.count === undefined ? 0 : ended / plan.count,
        ),
        text: `${ended.toLocaleString("en")} calls, ${Math.round((ended * 1000) / Math.max(1, elapsed())).toLocaleString("en")}/s`,
      }))
    : undefined;
  const worker = async () => {
    while (!stop.signal.aborted && (plan.count === undefined || started < plan.count)) {
      started++;
      const t0 = performance.now();
      try {
        await call(signal);
        latency.record(performance.now() - t0);
      } catch (err) {
        // A call cut short by Ctrl-C is no failure of the action.
        if (signal.aborted) break;
        const { code } = errorToPlain(err);
        errors[code] = (errors[code] ?? 0) + 1;
      }
      ended++;
    }
  };
  // Ctrl-C returns at once; the end of the duration lets the calls in flight finish.
  const cancelled = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: plan.concurrency }, worker)), cancelled]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stopAll);
    bar?.stop();
  }
  const elapsedMs = elapsed();
  return {
    calls: ended,
    errors,
    elapsedMs,
    rate: (ended * 1000) / Math.max(elapsedMs, 1e-3),
    latency,
    cancelled: signal.aborted,
  };
}

/** Prints a bench's result: calls, calls/s, the latency percentiles, and errors by code. */
export function printBench(screen: Screen, action: string, plan: BenchPlan, r: BenchResult): void {
  const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
  const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const how = r.cancelled ? screen.yellow(" (cancelled)") : "";
  screen.line(
    `${screen.bold(action)}: ${r.calls.toLocaleString("en")} calls in ${(r.elapsedMs / 1000).toFixed(1)} s, ` +
      `concurrency ${plan.concurrency}${how}`,
  );
  screen.line(`  ${screen.bold(`${Math.round(r.rate).toLocaleString("en")} calls/s`)}`);
  const l = r.latency;
  if (l.count > 0) {
    screen.line(
      `  latency  p50 ${ms(l.percentile(50))}  p90 ${ms(l.percentile(90))}  p99 ${ms(l.percentile(99))}` +
        screen.dim(`  (min ${ms(l.min)}, mean ${ms(l.mean)}, max ${ms(l.max)})`),
    );
  }
  if (failed > 0) {
    const codes = Object.entries(r.errors).map(([code, n]) => `${code} × ${n}`);
    screen.line(`  ${screen.red(`${failed} failed:`)} ${codes.join(", ")}`);
  }
}

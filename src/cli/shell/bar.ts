import { redrawn } from "../progress.js";

type Stream = Pick<NodeJS.WriteStream, "write" | "isTTY">;

const WIDTH = 30;

/** A progress bar, redrawn in place; a no-op on a stream that is not a terminal. */
export interface Bar {
  stop(): void;
}

/**
 * Draws `[█████░░░░░]  45%  <text>` on one line, redrawn every 100 ms from `state()`, like the
 * CLI's progress line (src/cli/progress.ts): only on a terminal, and cleared again on `stop()`.
 *
 * @example
 * ```ts
 * const bar = showBar(process.stderr, () => ({ fraction: done / total, text: `${done} calls` }));
 * try { await work(); } finally { bar.stop(); }
 * ```
 */
export function showBar(stream: Stream, state: () => { fraction: number; text: string }): Bar {
  return redrawn(stream, () => {
    const { fraction, text } = state();
    const f = Math.min(1, Math.max(0, fraction));
    const full = Math.round(f * WIDTH);
    const percent = `${Math.floor(f * 100)}%`.padStart(4);
    return `[${"█".repeat(full)}${"░".repeat(WIDTH - full)}] ${percent}  ${text}`;
  });
}

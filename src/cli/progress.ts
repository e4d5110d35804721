const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** A progress line, shown and cleared again; a no-op when stderr is not a terminal. */
export interface Progress {
  stop(): void;
}

/**
 * Shows `text` with a spinner and the seconds waited on stderr, redrawn in place, while a wait
 * lasts — only on a terminal, so logs and pipes never see it.
 *
 * @example
 * ```ts
 * const progress = showProgress("Waiting for action math.add on tcp://");
 * try { await wait(); } finally { progress.stop(); }
 * ```
 */
export function showProgress(
  text: string,
  stream: Pick<NodeJS.WriteStream, "write" | "isTTY"> = process.stderr,
): Progress {
  const started = Date.now();
  let frame = 0;
  return redrawn(stream, () => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    return `${FRAMES[frame++ % FRAMES.length]} ${text} ${seconds}s`;
  });
}

/**
 * Draws the line `line()` makes on `stream`, in place, now and every 100 ms until `stop()`, which
 * clears it; only on a terminal (elsewhere a no-op, so logs and pipes never see it).
 */
export function redrawn(
  stream: Pick<NodeJS.WriteStream, "write" | "isTTY">,
  line: () => string,
): Progress {
  if (stream.isTTY !== true) return { stop() {} };
  const draw = () => {
    stream.write(`\r\x1b[2K${line()}`);
  };
  draw();
  const timer = setInterval(draw, 100);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      stream.write("\r\x1b[2K");
    },
  };
}

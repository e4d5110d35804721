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
  if (stream.isTTY !== true) return { stop() {} };
  const started = Date.now();
  let frame = 0;
  const draw = () => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${text} ${seconds}s`);
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

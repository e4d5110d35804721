import { pino } from "pino";
import pretty from "pino-pretty";
import type { Logger } from "../observability/logger.js";
import { wantsColor } from "./output.js";

/**
 * The logger of a node the CLI starts: readable lines on a terminal (coloured per `NO_COLOR` /
 * `FORCE_COLOR`), JSON lines otherwise. `run` logs to stdout; the short-lived client of `call`
 * and the listings logs to stderr, so its warnings never mix into the data on stdout.
 */
export function cliLogger(level: string, fd: 1 | 2): Logger {
  const stream = fd === 1 ? process.stdout : process.stderr;
  if (stream.isTTY !== true) return pino({ level }, pino.destination({ fd, sync: true }));
  const colorize = wantsColor(stream);
  return pino({ level }, pretty({ colorize, sync: true, ignore: "pid,hostname", destination: fd }));
}

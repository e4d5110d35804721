import { type Logger as PinoLogger, pino } from "pino";
import pretty from "pino-pretty";

/** The logger type: a pino logger. */
export type Logger = PinoLogger;

/** Logger settings of a broker. */
export interface LoggerSettings {
  /** Minimum level. Default `info` (or `$FLOTILLA_LOG_LEVEL`). */
  level?: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  /** Readable, coloured lines instead of JSON. Default: when stdout is a terminal. */
  pretty?: boolean;
  /**
   * Paths whose values are written as `[redacted]` (pino paths: `password`, `user.password`,
   * `*.token`). Default {@link DEFAULT_REDACT}; pass `[...DEFAULT_REDACT, "card.number"]` to add
   * to it, or `false` to write everything.
   */
  redact?: readonly string[] | false;
  /** Where JSON lines go instead of stdout: a file stream, or anything with `write(line)`. */
  destination?: { write(line: string): unknown };
}

/** The secrets kept out of logs by default: these keys at the top level and two levels down. */
export const DEFAULT_REDACT: readonly string[] = [
  "authorization",
  "password",
  "token",
  "cookie",
].flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/** `false` (silent), settings, or a ready pino logger. */
export type LoggerOption = false | LoggerSettings | Logger;

function isLogger(value: LoggerOption): value is Logger {
  return typeof value === "object" && typeof (value as Partial<Logger>).child === "function";
}

/**
 * Builds the node's logger: JSON lines by default (one object per line, ready for log
 * shippers), a readable form when stdout is a terminal, nothing at all for `false`.
 */
export function createLogger(
  option: LoggerOption | undefined,
  bindings: Record<string, unknown>,
): Logger {
  if (option === false) return pino({ enabled: false });
  if (option !== undefined && isLogger(option)) return option.child(bindings);
  const settings: LoggerSettings = option ?? {};
  const level = settings.level ?? envLevel() ?? "info";
  const usePretty = settings.pretty ?? process.stdout.isTTY === true;
  const paths = settings.redact === false ? [] : (settings.redact ?? DEFAULT_REDACT);
  const options = {
    level,
    base: bindings,
    ...(paths.length > 0 ? { redact: { paths: [...paths], censor: "[redacted]" } } : {}),
  };
  if (settings.destination !== undefined) return pino(options, settings.destination);
  if (!usePretty) return pino(options);
  // Colour as the terminal and NO_COLOR / FORCE_COLOR say (pino-pretty's own detection).
  const stream = pretty({ colorize: colorWanted(), sync: true, ignore: "pid,hostname" });
  return pino(options, stream);
}

/** NO_COLOR (any value) turns colour off, FORCE_COLOR (not "0") on; else a terminal decides. */
function colorWanted(): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  const force = process.env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  return process.stdout.isTTY === true;
}

function envLevel(): LoggerSettings["level"] | undefined {
  const value = process.env.FLOTILLA_LOG_LEVEL;
  const levels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
  return value !== undefined && levels.includes(value)
    ? (value as LoggerSettings["level"])
    : undefined;
}

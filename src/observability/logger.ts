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
}

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
  if (!usePretty) return pino({ level, base: bindings });
  const stream = pretty({ colorize: true, sync: true, ignore: "pid,hostname" });
  return pino({ level, base: bindings }, stream);
}

function envLevel(): LoggerSettings["level"] | undefined {
  const value = process.env.FLOTILLA_LOG_LEVEL;
  const levels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
  return value !== undefined && levels.includes(value)
    ? (value as LoggerSettings["level"])
    : undefined;
}

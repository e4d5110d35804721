import { PayloadTooDeepError } from "../errors/index.js";
import { parseJsonLimited } from "../serializers/index.js";
import { suggest } from "./suggest.js";

/** A usage mistake: one line on stderr, a pointer to the command's help, exit status 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose help the message points to. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** One option of a command: how it is spelt, where its default comes from, how it is checked. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** The environment variable read when the flag is absent. */
  env?: string;
  /** Placeholder in the help, e.g. `MS`. */
  value?: string;
  /** One line of help. */
  help: string;
  /** Checks and converts a value (flag or environment); throws with what is expected. */
  check?: (raw: string) => unknown;
}

export type Specs = Readonly<Record<string, OptionSpec>>;

/** What a command line says, checked: options (flag > environment), positionals, params. */
export interface Parsed {
  /** Options given by flag or environment, converted by their `check`. */
  options: Record<string, unknown>;
  positionals: string[];
  /** `--key value` pairs that are not options: the params of `call` and `emit`. */
  params: Record<string, string | boolean>;
  help: boolean;
}

/** A value is refused; the message says what was expected. */
export class BadValue extends Error {}

/**
 * Parses a command's arguments against its option specs, strictly: an unknown option is an
 * error with a "did you mean" hint, unless the command takes `--key value` params (then it is a
 * param, after a warning when it looks like a misspelt option). `--` ends the options: what
 * follows is params and positionals only. Absent options fall back to their environment variable.
 *
 * @example
 * ```ts
 * parse(["math.add", "--a", "1", "--wait", "2s"], CALL_OPTIONS, { command: "call", params: true });
 * ```
 */
export function parse(
  argv: readonly string[],
  specs: Specs,
  how: {
    command: string;
    params?: boolean;
    env?: NodeJS.ProcessEnv;
    warn?: (s: string) => void;
    /** The commands that do have an option this one lacks, for the error message. */
    elsewhere?: (flag: string) => string[];
  },
): Parsed {
  const env = how.env ?? process.env;
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) shorts.set(spec.short, name);
  const raw: Record<string, string | boolean> = {};
  const params: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const fail = (message: string): never => {
    throw new UsageError(message, how.command);
  };
  let optionsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--" && !optionsEnded) {
      optionsEnded = true;
      continue;
    }
    const isLong = arg.startsWith("--") && arg.length > 2;
    const isShort = !isLong && /^-[^-\d]/.test(arg);
    if (!isLong && !isShort) {
      positionals.push(arg);
      continue;
    }
    const [flag, inline] = isLong ? splitOnce(arg.slice(2)) : [arg.slice(1), undefined];
    if (flag === "") fail(`'${arg}' is not an option`);
    const name = optionsEnded
      ? undefined
      : isLong
        ? specs[flag]
          ? flag
          : undefined
        : shorts.get(flag);
    const next = argv[i + 1];
    const nextIsValue = next !== undefined && !(next.startsWith("--") && next.length > 2);
    if (name === undefined) {
      if (isShort || !how.params) {
        const hint = isShort ? undefined : suggest(flag, Object.keys(specs));
        const owners = isShort ? [] : (how.elsewhere?.(flag) ?? []);
        const why = hint
          ? ` (did you mean --${hint}?)`
          : owners.length > 0
            ? ` (it is an option of ${owners.join(", ")})`
            : "";
        fail(`unknown option '${isShort ? `-${flag}` : `--${flag}`}'${why}`);
      }
      if (!optionsEnded) {
        const hint = suggest(flag, Object.keys(specs));
        if (hint !== undefined)
          how.warn?.(
            `--${flag} is sent as a param; did you mean --${hint}? (put params after -- to silence this)`,
          );
      }
      let value: string | boolean = true;
      if (inline !== undefined) value = inline;
      else if (nextIsValue) value = argv[++i]!;
      params[flag] = value;
      continue;
    }
    const spec = specs[name]!;
    if (spec.type === "boolean") {
      if (inline === undefined) raw[name] = true;
      else raw[name] = booleanValue(inline) ?? fail(`--${name} takes no value, got '${inline}'`);
      continue;
    }
    if (inline !== undefined) raw[name] = inline;
    else if (nextIsValue) raw[name] = argv[++i]!;
    else fail(`--${name} needs a value${spec.value ? ` (${spec.value})` : ""}`);
  }
  const options: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    let value: string | boolean | undefined = raw[name];
    let from = `--${name}`;
    if (value === undefined && spec.env !== undefined && env[spec.env] !== undefined) {
      const text = env[spec.env]!;
      from = spec.env;
      if (spec.type === "boolean")
        value = booleanValue(text) ?? fail(`${spec.env} must be 1 or 0, not '${text}'`);
      else if (text !== "") value = text;
    }
    if (value === undefined) continue;
    if (typeof value === "string" && spec.check) {
      try {
        options[name] = spec.check(value);
      } catch (err) {
        if (!(err instanceof BadValue)) throw err;
        fail(`${from} must be ${err.message}, not '${value}'`);
      }
    } else options[name] = value;
  }
  return { options, positionals, params, help: raw.help === true };
}

function splitOnce(text: string): [string, string | undefined] {
  const at = text.indexOf("=");
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function booleanValue(text: string): boolean | undefined {
  const t = text.toLowerCase();
  if (["1", "true", "yes", "on", ""].includes(t)) return true;
  if (["0", "false", "no", "off"].includes(t)) return false;
  return undefined;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** A duration in ms: `5000`, `500ms`, `5s`, `1.5m`. `min` is the smallest allowed. */
export function duration(min: number): (raw: string) => number {
  return (raw) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
    const ms = m ? Math.round(Number(m[1]) * UNITS[m[2] ?? "ms"]!) : Number.NaN;
    if (!(ms >= min)) {
      throw new BadValue(`a duration${min > 0 ? " above 0" : ""} in ms (e.g. 5000 or 5s)`);
    }
    return ms;
  };
}

/** An integer in [min, max]. */
export function integer(min: number, max: number, what = "an integer"): (raw: string) => number {
  return (raw) => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      throw new BadValue(`${what} from ${min} to ${max}`);
    return n;
  };
}

/** One of a fixed list of words. */
export function oneOf<T extends string>(...words: T[]): (raw: string) => T {
  return (raw) => {
    if (!(words as string[]).includes(raw)) throw new BadValue(`one of ${words.join(", ")}`);
    return raw as T;
  };
}

/** A non-empty string. */
export function nonEmpty(raw: string): string {
  if (raw.trim() === "") throw new BadValue("a non-empty value");
  return raw;
}

/**
 * Builds params from a JSON argument and/or `--key value` flags (`--user.name Ada` nests; values
 * that parse as JSON — numbers, booleans, null, objects — are taken as such).
 */
export function buildParams(
  json: string | undefined,
  flags: Record<string, string | boolean>,
  command: string,
): unknown {
  let params: Record<string, unknown> = {};
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = parseJsonLimited(json);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new UsageError(`params are not valid JSON (${why}): ${clip(json)}`, command);
    }
    if (Object.keys(flags).length === 0) return parsed;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new UsageError("JSON params and --key value params need a JSON object", command);
    params = parsed as Record<string, unknown>;
  }
  for (const [key, raw] of Object.entries(flags)) {
    const path = key.split(".");
    if (path.some((p) => p === "")) throw new UsageError(`'--${key}' is not a param name`, command);
    // Such a key would write into Object.prototype, not into the params.
    if (path.some((p) => p === "__proto__" || p === "constructor" || p === "prototype"))
      throw new UsageError(`'--${key}' is not a param name`, command);
    let target = params;
    for (const part of path.slice(0, -1)) {
      const next = target[part];
      if (typeof next !== "object" || next === null) target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    target[path[path.length - 1]!] = typeof raw === "boolean" ? raw : parseValue(raw, command);
  }
  return params;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function parseValue(raw: string, command: string): unknown {
  try {
    return parseJsonLimited(raw);
  } catch (err) {
    if (err instanceof PayloadTooDeepError) throw new UsageError(err.message, command);
    return raw;
  }
}

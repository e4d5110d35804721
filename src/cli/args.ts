/** Options every command takes. */
export interface CommonOptions {
  transporter: string;
  namespace: string;
  nodeID: string | undefined;
  serializer: "json" | "msgpack" | undefined;
}

/** A usage mistake: printed with the help text, exit status 2. */
export class UsageError extends Error {}

type Spec = Record<string, { type: "string" | "boolean"; short?: string }>;

const COMMON: Spec = {
  transporter: { type: "string", short: "t" },
  namespace: { type: "string", short: "n" },
  "node-id": { type: "string" },
  serializer: { type: "string" },
  help: { type: "boolean", short: "h" },
};

/**
 * Parses a command's arguments. Known options are read by their spec; any other `--key value`
 * (or `--key=value`, or a lone `--flag`) is kept for params.
 */
export function parse(argv: string[], options: Spec) {
  const spec: Spec = { ...COMMON, ...options };
  const shorts = new Map(
    Object.entries(spec).flatMap(([name, o]) => (o.short ? [[o.short, name]] : [])),
  );
  const values: Record<string, string | boolean> = {};
  const extra: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const long = arg.startsWith("--") ? arg.slice(2) : undefined;
    const short = !long && /^-[a-zA-Z]$/.test(arg) ? shorts.get(arg.slice(1)) : undefined;
    if (long === undefined && short === undefined) {
      positionals.push(arg);
      continue;
    }
    const [rawName, inline] = long !== undefined ? splitOnce(long) : [short!, undefined];
    const known = spec[rawName];
    const next = argv[i + 1];
    const takesValue = known
      ? known.type === "string"
      : next !== undefined && !next.startsWith("--");
    let value: string | boolean = true;
    if (inline !== undefined) value = inline;
    else if (takesValue) {
      if (next === undefined) throw new UsageError(`--${rawName} needs a value`);
      value = next;
      i++;
    }
    (known ? values : extra)[rawName] = value;
  }
  const serializer = values.serializer;
  if (serializer !== undefined && serializer !== "json" && serializer !== "msgpack") {
    throw new UsageError(`--serializer must be json or msgpack, not ${String(serializer)}`);
  }
  const common: CommonOptions = {
    transporter: str(values.transporter) ?? process.env.FLOTILLA_TRANSPORTER ?? "tcp://",
    namespace: str(values.namespace) ?? process.env.FLOTILLA_NAMESPACE ?? "",
    nodeID: str(values["node-id"]),
    serializer,
  };
  return { values, positionals, extra, common, help: values.help === true };
}

function splitOnce(text: string): [string, string | undefined] {
  const at = text.indexOf("=");
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * Builds params from a JSON argument and/or `--key value` flags (`--user.name Ada` nests; values
 * that parse as JSON — numbers, booleans, null, objects — are taken as such).
 */
export function buildParams(
  json: string | undefined,
  flags: Record<string, string | boolean>,
): unknown {
  let params: Record<string, unknown> = {};
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new UsageError(`Params must be JSON, got: ${json}`);
    }
    if (Object.keys(flags).length === 0) return parsed;
    if (typeof parsed !== "object" || parsed === null)
      throw new UsageError("JSON params and --flags need a JSON object");
    params = parsed as Record<string, unknown>;
  }
  for (const [key, raw] of Object.entries(flags)) {
    const path = key.split(".");
    let target = params;
    for (const part of path.slice(0, -1)) {
      const next = target[part];
      if (typeof next !== "object" || next === null) target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    target[path[path.length - 1]!] = typeof raw === "boolean" ? raw : parseValue(raw);
  }
  return params;
}

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

import { parseArgs } from "node:util";

/** Options every command takes. */
export interface CommonOptions {
  transporter: string;
  namespace: string;
  nodeID: string | undefined;
  serializer: "json" | "msgpack" | undefined;
}

/** A usage mistake: printed with the help text, exit status 2. */
export class UsageError extends Error {}

/** Parses a command's arguments; unknown `--key value` pairs are kept for params. */
export function parse(
  argv: string[],
  options: Record<string, { type: "string" | "boolean"; short?: string }>,
) {
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    options: {
      transporter: { type: "string", short: "t" },
      namespace: { type: "string", short: "n" },
      "node-id": { type: "string" },
      serializer: { type: "string" },
      help: { type: "boolean", short: "h" },
      ...options,
    },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const known = new Set([
    "transporter",
    "namespace",
    "node-id",
    "serializer",
    "help",
    ...Object.keys(options),
  ]);
  const extra: Record<string, string | boolean> = {};
  for (const token of tokens ?? []) {
    if (token.kind === "option" && !known.has(token.name)) extra[token.name] = token.value ?? true;
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

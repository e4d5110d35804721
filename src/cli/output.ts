import { errorToPlain } from "../errors/index.js";
import { locate } from "./locate.js";

type Stream = Pick<NodeJS.WriteStream, "write" | "isTTY">;

/** Whether to colour what goes to `stream`: `NO_COLOR` wins, then `FORCE_COLOR`, then a terminal. */
export function wantsColor(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !["0", "false"].includes(force.toLowerCase());
  return stream.isTTY === true && env.TERM !== "dumb";
}

/** A function that wraps text in the ANSI style `code` when `on`, else returns it as it is. */
export const paint = (on: boolean, code: number) => (text: string) =>
  on ? `\x1b[${code}m${text}\x1b[0m` : text;

/**
 * Where and how the CLI prints: JSON when asked (`--json`) or when stdout is not a terminal
 * (scripts and pipes), readable tables and messages on a terminal; colour per `wantsColor`.
 */
export class Output {
  readonly json: boolean;
  readonly bold: (t: string) => string;
  readonly dim: (t: string) => string;
  readonly red: (t: string) => string;
  readonly yellow: (t: string) => string;

  constructor(
    options: { json?: boolean; verbose?: boolean },
    readonly out: Stream = process.stdout,
    readonly err: Stream = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.json = options.json === true || out.isTTY !== true;
    this.verbose = options.verbose === true;
    const color = wantsColor(err, env);
    this.bold = paint(color, 1);
    this.dim = paint(color, 2);
    this.red = paint(color, 31);
    this.yellow = paint(color, 33);
  }

  readonly verbose: boolean;

  /** A value as JSON on stdout (indented, for people and `jq` alike). */
  value(value: unknown): void {
    this.out.write(`${JSON.stringify(value, null, 2) ?? "null"}\n`);
  }

  /** Rows as JSON, or as an aligned table with the given columns on a terminal. */
  rows<T>(
    rows: readonly T[],
    columns: Record<string, (row: T) => unknown>,
    json: unknown = rows,
  ): void {
    if (this.json) {
      this.value(json);
      return;
    }
    const cells = rows.map((row) => Object.values(columns).map((get) => cell(get(row))));
    const bold = paint(wantsColor(this.out), 1);
    for (const line of tableLines(Object.keys(columns), cells, bold)) this.out.write(`${line}\n`);
  }

  /** A short confirmation: `{ key: value }` as JSON, or a sentence on a terminal. */
  done(json: Record<string, unknown>, sentence: string): void {
    if (this.json) this.value(json);
    else this.out.write(`${sentence}\n`);
  }

  /** A warning or hint on stderr, never mixed into stdout's data. */
  note(text: string): void {
    this.err.write(`${this.yellow("flotilla:")} ${text}\n`);
  }

  /**
   * An error the cluster returned (a failed call, an unknown dead letter): its code, status and
   * data; as `{ "error": {...} }` in JSON mode. `hint` says what to check.
   */
  callError(err: unknown, hint?: string): number {
    const { name, message, code, status, retryable, data, nodeID } = errorToPlain(err);
    if (this.json) {
      const error = { name, code, status, retryable, message, data, nodeID, hint };
      this.err.write(`${JSON.stringify({ error }, null, 2)}\n`);
      return 1;
    }
    const from = nodeID ? `, from node ${nodeID}` : "";
    this.err.write(
      `${this.red("error:")} ${message} ${this.dim(`(${code}, status ${status}${from})`)}\n`,
    );
    if (Array.isArray(data) && data.every(isIssue)) {
      for (const issue of data)
        this.err.write(`  ${issue.path.join(".") || "(params)"}: ${issue.message}\n`);
    } else if (data !== undefined) {
      this.err.write(`${indent(JSON.stringify(data, null, 2))}\n`);
    }
    if (hint) this.err.write(`${this.dim("hint:")} ${hint}\n`);
    return 1;
  }

  /**
   * A problem on this machine (a file that does not load, a bad setting, a port in use): what,
   * where (file:line), and the stack with `--verbose`. Never dressed as an RPC error.
   */
  localError(err: unknown, context?: string, at?: string): number {
    const e = err instanceof Error ? err : new Error(String(err));
    const where = at ?? locate(e);
    const prefix = context ? `${context}: ` : "";
    this.err.write(
      `${this.red("error:")} ${prefix}${e.name === "Error" ? "" : `${e.name}: `}${firstLine(e.message)}\n`,
    );
    if (where) this.err.write(`  at ${where}\n`);
    const rest = e.message.split("\n").slice(1).join("\n").trim();
    if (rest) this.err.write(`${indent(rest)}\n`);
    if (this.verbose) {
      let cause: unknown = e;
      while (cause instanceof Error) {
        this.err.write(`${this.dim(cause.stack ?? String(cause))}\n`);
        cause = cause.cause;
        if (cause instanceof Error) this.err.write("caused by:\n");
      }
    } else if (e.stack) this.err.write(`${this.dim("(run with --verbose for the stack)")}\n`);
    return 1;
  }
}

/**
 * Lays out a table: the headers (through `head`, to style them) and the cells, each column padded
 * to its widest value, two spaces apart.
 */
export function tableLines(
  headers: readonly string[],
  cells: readonly string[][],
  head: (t: string) => string = (t) => t,
): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [head(line(headers)), ...cells.map(line)];
}

/** Whether `value` is a validation issue (`{ path, message }`). */
export function isIssue(value: unknown): value is { path: (string | number)[]; message: string } {
  const v = value as { path?: unknown; message?: unknown } | null;
  return (
    typeof v === "object" && v !== null && Array.isArray(v.path) && typeof v.message === "string"
  );
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return "-";
  if (Array.isArray(value)) return value.length === 0 ? "-" : value.map(cell).join(", ");
  return String(value);
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? "";
}

import { errorToPlain } from "../../errors/index.js";
import { isIssue, paint, tableLines, wantsColor } from "../output.js";

type Stream = Pick<NodeJS.WriteStream, "write" | "isTTY">;

/**
 * Where the shell prints: results, tables and errors as text (the shell is for people, so never
 * JSON lines), coloured as {@link wantsColor} says for the stream: `NO_COLOR` wins, then
 * `FORCE_COLOR`, then whether it is a terminal.
 */
export class Screen {
  readonly color: boolean;
  readonly bold: (t: string) => string;
  readonly dim: (t: string) => string;
  readonly red: (t: string) => string;
  readonly green: (t: string) => string;
  readonly yellow: (t: string) => string;
  readonly cyan: (t: string) => string;

  constructor(
    readonly out: Stream,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.color = wantsColor(out, env);
    this.bold = paint(this.color, 1);
    this.dim = paint(this.color, 2);
    this.red = paint(this.color, 31);
    this.green = paint(this.color, 32);
    this.yellow = paint(this.color, 33);
    this.cyan = paint(this.color, 36);
  }

  line(text = ""): void {
    this.out.write(`${text}\n`);
  }

  /** A value as indented JSON; keys, strings and numbers coloured when colour is on. */
  value(value: unknown): void {
    const json = JSON.stringify(value, null, 2) ?? "undefined";
    this.line(this.color ? highlight(json, this) : json);
  }

  /** Rows as an aligned table under bold headers; `(none)` when there are none. */
  table<T>(rows: readonly T[], columns: Record<string, (row: T) => unknown>): void {
    this.line(formatTable(rows, columns, this.bold).join("\n"));
  }

  /** A failed command: the message, then its code and status, and validation issues one a line. */
  error(err: unknown): void {
    const { message, code, status, data, nodeID } = errorToPlain(err);
    const from = nodeID ? `, from node ${nodeID}` : "";
    this.line(`${this.red("error:")} ${message} ${this.dim(`(${code}, status ${status}${from})`)}`);
    if (Array.isArray(data) && data.every(isIssue)) {
      for (const issue of data)
        this.line(`  ${issue.path.join(".") || "(params)"}: ${issue.message}`);
    }
  }

  /** A mistake in what was typed: one line, and where to read more. */
  usage(message: string, command?: string): void {
    const more = command ? `help ${command}` : "help";
    this.line(`${this.red("usage:")} ${message} ${this.dim(`(try '${more}')`)}`);
  }

  note(text: string): void {
    this.line(this.dim(text));
  }
}

/**
 * The lines of an aligned table: a header (passed through `head`, e.g. bold) and one line per
 * row; lists are joined with `, `, missing values shown as `-`.
 *
 * @example
 * ```ts
 * formatTable([{ id: "n1" }], { NODE: (r) => r.id }); // ["NODE", "n1"]
 * ```
 */
export function formatTable<T>(
  rows: readonly T[],
  columns: Record<string, (row: T) => unknown>,
  head: (t: string) => string = (t) => t,
): string[] {
  if (rows.length === 0) return ["(none)"];
  const cells = rows.map((row) => Object.values(columns).map((get) => cell(get(row))));
  return tableLines(Object.keys(columns), cells, head);
}

function cell(value: unknown): string {
  if (value === undefined || value === null || value === "") return "-";
  if (Array.isArray(value)) return value.length === 0 ? "-" : value.map(cell).join(", ");
  return String(value);
}

/** Colours indented JSON: keys cyan, strings green, numbers yellow, true/false/null bold. */
function highlight(json: string, s: Screen): string {
  return json.replace(
    /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g,
    (match, str: string | undefined, colon: string | undefined, word: string | undefined) => {
      if (str !== undefined) return colon ? `${s.cyan(str)}${colon}` : s.green(str);
      if (word !== undefined) return s.bold(word);
      return s.yellow(match);
    },
  );
}

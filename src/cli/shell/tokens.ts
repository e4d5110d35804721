import { UsageError } from "../args.js";

/**
 * Splits one line of the shell into words, the way a user expects to type them: blanks separate
 * words, `'...'` and `"..."` quote (with `\"` and `\\` inside double quotes), and a word that
 * starts with `{` or `[` runs until its brackets balance, so JSON params need no quoting:
 * `call users.create {"name": "Ada Lovelace", "age": 36} --timeout 2s`.
 *
 * @example
 * ```ts
 * words(`call math.add {"a": 1, "b": 2}`); // ["call", "math.add", "{\"a\": 1, \"b\": 2}"]
 * ```
 */
export function words(line: string, command?: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isBlank(line[i]!)) i++;
    if (i >= n) break;
    if (line[i] === "{" || line[i] === "[") {
      const end = jsonEnd(line, i);
      out.push(line.slice(i, end));
      i = end;
      continue;
    }
    let word = "";
    while (i < n && !isBlank(line[i]!)) {
      const c = line[i]!;
      if (c === "'") {
        const close = line.indexOf("'", i + 1);
        if (close === -1) throw new UsageError("unterminated ' quote", command);
        word += line.slice(i + 1, close);
        i = close + 1;
      } else if (c === '"') {
        i++;
        while (i < n && line[i] !== '"') {
          if (line[i] === "\\" && i + 1 < n) i++;
          word += line[i];
          i++;
        }
        if (i >= n) throw new UsageError('unterminated " quote', command);
        i++;
      } else {
        word += c;
        i++;
      }
    }
    out.push(word);
  }
  return out;
}

/** Where a JSON value that starts at `start` ends: after its brackets balance, or the line's end. */
function jsonEnd(line: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return line.length;
}

function isBlank(c: string): boolean {
  return c === " " || c === "\t";
}

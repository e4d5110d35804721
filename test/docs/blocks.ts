import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** One ```ts block of a Markdown file. */
export interface DocBlock {
  /** The Markdown file, relative to the repository (`docs/events.md`). */
  doc: string;
  /** The line of the opening fence (1-based). */
  line: number;
  /** The file the block is written to: its `// name.ts` first line, else `block-<line>.ts`. */
  file: string;
  /** The block's code, with the hidden prelude (if any) first. */
  code: string;
  /** Lines of the prelude put before the block, so errors map back to the doc's lines. */
  preludeLines: number;
  /** Why the block is not type-checked (```ts no-check, with `// no-check: reason` first). */
  noCheck: string | undefined;
}

const FENCE = /^```(\S*)(?:\s+(.*))?$/;
const FILE_NAME = /^\/\/\s*([\w.-]+\.ts)\s*$/;
const PRELUDE = /^<!--\s*ts-prelude\s*$/;

/**
 * The ```ts blocks of `file`. A block may be preceded by a hidden prelude that makes a fragment
 * compile (declarations of what the surrounding text has introduced):
 *
 * ```md
 * <!-- ts-prelude
 * declare const api: import("flotilla").HttpClient;
 * -->
 * ```
 */
export function tsBlocks(root: string, doc: string): DocBlock[] {
  const lines = readFileSync(join(root, doc), "utf8").split("\n");
  const blocks: DocBlock[] = [];
  let prelude: string[] | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? "";
    if (PRELUDE.test(text)) {
      prelude = [];
      for (i++; i < lines.length && !/^-->\s*$/.test(lines[i] ?? ""); i++) {
        prelude.push(lines[i] ?? "");
      }
      continue;
    }
    const fence = FENCE.exec(text);
    if (fence === null) {
      if (text.trim() !== "") prelude = undefined; // a prelude belongs to the next block only
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ""); i++) body.push(lines[i] ?? "");
    if (fence[1] === "ts" || fence[1] === "typescript") {
      const first = body[0] ?? "";
      const flags = (fence[2] ?? "").split(/\s+/);
      const reason = /^\/\/\s*no-check:\s*(.+)$/.exec(first)?.[1];
      blocks.push({
        doc,
        line: start + 1,
        file: FILE_NAME.exec(first)?.[1] ?? `block-${start + 1}.ts`,
        code: [...(prelude ?? []), ...body].join("\n"),
        preludeLines: prelude?.length ?? 0,
        noCheck: flags.includes("no-check") ? (reason ?? "") : undefined,
      });
    }
    prelude = undefined;
  }
  return blocks;
}

/** `README.md` and every `docs/*.md`, relative to `root`. */
export function markdownFiles(root: string): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs];
}

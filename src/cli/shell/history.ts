import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** Where the shell keeps the lines typed, and how many. */
export interface HistoryFile {
  path: string;
  /** Lines kept; 0 keeps none (and reads none). */
  size: number;
}

/** Entries a history file keeps unless told (`--history-size`). */
export const DEFAULT_HISTORY_SIZE = 1000;
/** A longer line is not kept: a pasted blob should not bloat the file. */
const MAX_LINE = 4096;

/**
 * The history file of the project the shell runs in: `.flotilla/shell_history` in the nearest
 * folder at or above `cwd` that holds a `package.json` (else in `cwd`), unless `file` names one.
 *
 * @example
 * ```ts
 * historyPath(undefined, "/home/ada/shop/services"); // "/home/ada/shop/.flotilla/shell_history"
 * ```
 */
export function historyPath(file: string | undefined, cwd: string = process.cwd()): string {
  if (file !== undefined) return resolve(cwd, file);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return join(dir, ".flotilla", "shell_history");
    if (dirname(dir) === dir) return join(resolve(cwd), ".flotilla", "shell_history");
  }
}

/** The saved lines, newest first (as readline takes them); none when the file is missing. */
export function loadHistory(h: HistoryFile): string[] {
  if (h.size === 0) return [];
  let text: string;
  try {
    text = readFileSync(h.path, "utf8");
  } catch {
    return [];
  }
  const lines = text.split("\n").filter((l) => l.trim() !== "" && l.length <= MAX_LINE);
  return lines.slice(-h.size).reverse();
}

/**
 * Writes the lines (newest first, as readline keeps them) oldest first, at most `size` of them,
 * through a temporary file so a crash never leaves half a history.
 */
export function saveHistory(h: HistoryFile, newestFirst: readonly string[]): void {
  if (h.size === 0) return;
  const lines = newestFirst
    .filter((l) => l.trim() !== "" && l.length <= MAX_LINE)
    .slice(0, h.size)
    .reverse();
  mkdirSync(dirname(h.path), { recursive: true });
  const temporary = `${h.path}.${process.pid}.tmp`;
  writeFileSync(temporary, lines.length === 0 ? "" : `${lines.join("\n")}\n`, { mode: 0o600 });
  renameSync(temporary, h.path);
}

import { ServiceSchemaError } from "../errors/index.js";

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Reads a duration: a number of ms, or text such as `"500ms"`, `"30s"`, `"5m"`, `"1h30m"`, `"1d"`.
 *
 * @example
 * ```ts
 * parseDuration("1m30s"); // 90000
 * ```
 */
export function parseDuration(value: number | string): number {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value > 0) return value;
    throw new ServiceSchemaError(`A duration must be a positive number of ms, not ${value}.`);
  }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)];
  const consumed = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || consumed.replace(/\s/g, "") !== value.replace(/\s/g, "")) {
    throw new ServiceSchemaError(
      `'${value}' is not a duration (use e.g. "500ms", "30s", "5m", "1h").`,
    );
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNITS[p[2]!] ?? 0), 0);
}

import { ServiceSchemaError } from "../errors/index.js";

/** A parsed five-field cron expression: minute, hour, day of month, month, day of week. */
export interface CronSchedule {
  /** The next time (epoch ms, on a whole minute) strictly after `from`. */
  next(from: number): number;
}

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day of week", min: 0, max: 7 },
] as const;

const ALIASES: Record<string, string> = {
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
  "@yearly": "0 0 1 1 *",
};

/**
 * Parses a cron expression (`*`, lists `1,5`, ranges `1-5`, steps `*\/15` or `0-30/10`, and
 * `@hourly`-style aliases), evaluated in the process's local time zone.
 *
 * @example
 * ```ts
 * parseCron("*\/5 * * * *").next(Date.now()); // the next multiple of five minutes
 * ```
 */
export function parseCron(expression: string): CronSchedule {
  const text = ALIASES[expression.trim()] ?? expression.trim();
  const parts = text.split(/\s+/);
  if (parts.length !== 5) {
    throw new ServiceSchemaError(
      `Cron '${expression}' needs five fields: minute hour day-of-month month day-of-week.`,
    );
  }
  const sets = parts.map((part, i) => parseField(part, FIELDS[i]!, expression));
  const [minutes, hours, days, months, weekdays] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  if (weekdays.has(7)) weekdays.add(0);
  const anyDay = parts[2] === "*";
  const anyWeekday = parts[4] === "*";
  return {
    next(from) {
      const t = new Date(from);
      t.setSeconds(0, 0);
      t.setMinutes(t.getMinutes() + 1);
      // Bounded search: at most a few years of minutes, skipping whole days and hours fast.
      for (let guard = 0; guard < 2_000_000; guard++) {
        if (!months.has(t.getMonth() + 1)) {
          t.setMonth(t.getMonth() + 1, 1);
          t.setHours(0, 0, 0, 0);
          continue;
        }
        const dayOk = days.has(t.getDate());
        const weekdayOk = weekdays.has(t.getDay());
        // As in cron: when both day fields are restricted, either may match.
        const dateOk =
          anyDay && anyWeekday
            ? true
            : anyDay
              ? weekdayOk
              : anyWeekday
                ? dayOk
                : dayOk || weekdayOk;
        if (!dateOk) {
          t.setDate(t.getDate() + 1);
          t.setHours(0, 0, 0, 0);
          continue;
        }
        if (!hours.has(t.getHours())) {
          t.setHours(t.getHours() + 1, 0, 0, 0);
          continue;
        }
        if (!minutes.has(t.getMinutes())) {
          t.setMinutes(t.getMinutes() + 1, 0, 0);
          continue;
        }
        return t.getTime();
      }
      throw new ServiceSchemaError(`Cron '${expression}' never fires.`);
    },
  };
}

function parseField(part: string, field: (typeof FIELDS)[number], expression: string): Set<number> {
  const out = new Set<number>();
  const bad = () =>
    new ServiceSchemaError(
      `Cron '${expression}': '${part}' is not a valid ${field.name} (${field.min}-${field.max}).`,
    );
  for (const item of part.split(",")) {
    const [range = "", stepText] = item.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw bad();
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = field.min;
      hi = field.max;
    } else if (range.includes("-")) {
      [lo, hi] = range.split("-").map(Number) as [number, number];
    } else {
      lo = Number(range);
      hi = stepText === undefined ? lo : field.max;
    }
    if (
      !Number.isInteger(lo) ||
      !Number.isInteger(hi) ||
      lo < field.min ||
      hi > field.max ||
      lo > hi
    )
      throw bad();
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

import { Cron } from "croner";
import { ServiceSchemaError } from "../errors/index.js";

/** A cron schedule, read in one time zone. */
export interface CronSchedule {
  /** The next run (epoch ms) strictly after `from`, or `undefined` if it never runs again. */
  next(from: number): number | undefined;
}

/**
 * Parses a cron expression with [croner](https://croner.56k.guru): five fields (minute hour
 * day-of-month month day-of-week), or six with seconds first; lists, ranges, steps, names
 * (`MON-FRI`, `JAN`), `L` (last day of the month), `5#2` (second Friday), `@hourly`-style
 * nicknames. Read in `timezone` (an IANA name), else in the process's time zone.
 *
 * Daylight saving, as croner does it: a fixed-time schedule (`30 2 * * *`) whose time falls in
 * the spring-forward gap runs at the first valid time after it (03:00), and once on the
 * fall-back day; an interval schedule (`*\/30 * * * *`) skips the times in the gap and runs on
 * both occurrences of a repeated time.
 *
 * @example
 * ```ts
 * parseCron("0 9 * * MON-FRI", "Europe/Berlin").next(Date.now()); // next weekday, 09:00 Berlin
 * ```
 */
export function parseCron(expression: string, timezone?: string): CronSchedule {
  if (timezone !== undefined) checkTimeZone(timezone);
  let cron: Cron;
  try {
    // Without a callback croner schedules nothing: it only computes run times.
    cron = new Cron(expression, timezone === undefined ? {} : { timezone });
  } catch (err) {
    throw new ServiceSchemaError(`Cron '${expression}': ${reason(err)}`, { cause: err });
  }
  const schedule: CronSchedule = {
    next(from) {
      return cron.nextRun(new Date(from))?.getTime();
    },
  };
  if (schedule.next(Date.now()) === undefined) {
    throw new ServiceSchemaError(`Cron '${expression}' never fires.`);
  }
  return schedule;
}

function checkTimeZone(timezone: string): void {
  try {
    new Intl.DateTimeFormat("en", { timeZone: timezone });
  } catch {
    throw new ServiceSchemaError(
      `'${timezone}' is not a time zone (use an IANA name such as "Europe/Berlin" or "UTC").`,
    );
  }
}

function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/^CronPattern: /, "");
}

// The housekeeping of a group member, run every few seconds: each step is one script (or a few),
// safe to run on every member at once.
import { type Entry, parseEntry } from "./stream-keys.js";
import type { MemberRef, Source } from "./stream-message.js";
import * as scripts from "./stream-scripts.js";

/** Resets the idle time of the entries the member is handling, so no other member claims them. */
export async function refreshHeld(
  ref: MemberRef,
  held: Iterable<{ source: Source; entryID: string }>,
): Promise<void> {
  const ids: Record<Source, string[]> = { stream: [], retries: [] };
  for (const m of held) ids[m.source].push(m.entryID);
  for (const source of ["stream", "retries"] as const) {
    if (ids[source].length === 0) continue;
    const args = [ref.group, ref.consumer, ...ids[source]];
    await ref.host.command((redis) => scripts.refresh.run(redis, [ref.keys[source]], args));
  }
}

/**
 * Makes entries this member read but will not handle (it is closing) claimable by the others at
 * once: their idle time is set to `claimIdle`, as if their holder had died.
 */
export async function release(
  ref: MemberRef,
  entries: readonly { source: Source; entryID: string }[],
): Promise<void> {
  for (const source of ["stream", "retries"] as const) {
    const ids = entries.filter((e) => e.source === source).map((e) => e.entryID);
    if (ids.length === 0) continue;
    const idle = ["IDLE", ref.host.claimIdle, "JUSTID"];
    await ref.host.command((redis) =>
      redis.call("XCLAIM", ref.keys[source], ref.group, ref.consumer, 0, ...ids, ...idle),
    );
  }
}

/**
 * Moves the group's due retries to its retry stream (any member may, so a retry outlives the
 * member that asked for it). Resolves with the ms until the next one is due, or -1 for none.
 */
export async function moveDue(ref: MemberRef): Promise<number> {
  const batch = 100;
  for (;;) {
    const reply = await ref.host.command((redis) =>
      scripts.moveDue.run(redis, [ref.keys.delayed, ref.keys.retries], [batch]),
    );
    const [moved, next] = reply as [number, number];
    if (moved < batch) return next;
  }
}

/**
 * Claims up to `free` entries (of the event's stream, then of the retry stream) that their holder
 * left idle for `claimIdle` ms, handing each to `deliver` with its delivery count.
 */
export async function claimIdle(
  ref: MemberRef,
  free: () => number,
  deliver: (source: Source, entry: Entry, deliveries: number) => void,
): Promise<void> {
  for (const source of ["stream", "retries"] as const) {
    let cursor = "0-0";
    // A few pages per sweep: a long list of live entries must not keep the server busy.
    for (let page = 0; page < 10; page++) {
      const count = free();
      if (count <= 0) return;
      const args = [ref.group, ref.consumer, ref.host.claimIdle, cursor, count];
      const reply = await ref.host.command((redis) =>
        scripts.claim.run(redis, [ref.keys[source]], args),
      );
      const [next, claimed] = reply as [Buffer, [Buffer, unknown, number][]];
      for (const [entryID, fields, deliveries] of claimed) {
        const entry = parseEntry([entryID, fields]);
        if (entry !== undefined) deliver(source, entry, Number(deliveries));
      }
      cursor = next.toString();
      if (cursor === "0-0") break;
    }
  }
}

/**
 * Trims the event's stream to what some group still needs, and forgets members of the group that
 * hold nothing and were not seen for `stale` ms. With `leaving`, only forgets that member (if it
 * holds nothing).
 */
export async function tidy(ref: MemberRef, stale: number, leaving = ""): Promise<void> {
  const keys = [ref.keys.stream, ref.keys.retries];
  await ref.host.command((redis) => scripts.tidy.run(redis, keys, [ref.group, stale, leaving]));
}

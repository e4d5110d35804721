import { describe } from "vitest";
import { type DataTarget, dataKit } from "../fixtures.js";
import { errorTests } from "./errors.js";
import { healthTests } from "./health.js";
import { inboxTests } from "./inbox.js";
import { migrationTests } from "./migrations.js";
import { outboxTests } from "./outbox.js";

/**
 * The behaviour of a service's database every dialect owes: migrations, `ctx.db` everywhere a
 * handler runs, transactions with their outbox events, the inbox, coded errors, health. Every
 * test has its own services (names with a random suffix), its own memory:// bus, and its data
 * deleted after it.
 */
export function runDataSuite(name: string, makeTarget: () => Promise<DataTarget>): void {
  describe(`data on ${name}`, () => {
    const kit = dataKit(makeTarget);
    migrationTests(kit);
    outboxTests(kit);
    inboxTests(kit);
    errorTests(kit);
    healthTests(kit);
  });
}

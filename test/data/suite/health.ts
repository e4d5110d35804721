import { defineService } from "flotilla";
import { type Kysely, sql } from "kysely";
import { describe, expect, it } from "vitest";
import { until } from "../../harness/index.js";
import { type DataKit, type ShopDB, shopDatabase } from "../fixtures.js";
import { shopAndShipping } from "./services.js";

/** What `broker.health()` shows of each database. */
export function healthTests(kit: () => DataKit): void {
  describe("health", () => {
    it("shows each database's dialect, location, state and outbox counters", async () => {
      const k = kit();
      const { name, node } = await shopAndShipping(k);
      for (const id of ["o-1", "o-2", "o-3"]) await node.call(`${name}.place`, { id });
      await until(() => node.health().databases[name]?.outbox.published === 3, {
        message: "three published events in health",
      });
      const health = node.health();
      expect(health.ready).toBe(true);
      expect(health.databases[name]).toMatchObject({
        dialect: k.target.dialect,
        location: k.target.location(name),
        ok: true,
        outbox: { failed: 0, published: 3 },
      });
      expect(health.databases[name]?.error).toBeUndefined();
      if (k.target.dialect === "postgres") {
        const pool = health.databases[name]?.pool;
        if (pool === undefined) throw new Error("no pool in the health of a PostgreSQL database");
        expect(pool.waiting).toBe(0);
        // The handlers' connections: at most poolSize (default 10; the relay may keep one).
        expect(pool.max).toBeGreaterThan(0);
        expect(pool.max).toBeLessThanOrEqual(10);
        expect(pool.size).toBeGreaterThan(0);
        expect(pool.size).toBeLessThanOrEqual(pool.max);
        expect(pool.idle).toBeLessThanOrEqual(pool.size);
      } else {
        expect(health.databases[name]?.pool).toBeUndefined();
      }
      // Services without a database have no entry.
      expect(Object.keys(health.databases)).toEqual([name]);
    });

    it("is not ready while a database fails its probe", async () => {
      const k = kit();
      const name = k.name("shop");
      let db: Kysely<ShopDB> | undefined;
      const node = await k.start(
        defineService({
          name,
          database: shopDatabase({ outbox: { pollInterval: 20 } }),
          started(service) {
            db = service.db;
          },
        }),
      );
      await until(() => node.health().databases[name]?.ok === true, { message: "a good probe" });
      expect(node.health().ready).toBe(true);
      if (db === undefined) throw new Error("started did not run");
      // The relay's table goes: its next round fails.
      await sql`drop table flotilla_outbox`.execute(db);
      const failing = await until(
        () => {
          const health = node.health();
          return health.databases[name]?.ok === false && health;
        },
        { message: "a failed probe" },
      );
      expect(failing.ready).toBe(false);
      expect(failing.databases[name]?.error).toBe("DB_ERROR");
    });
  });
}

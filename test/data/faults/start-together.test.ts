// Fault test 3: four instances of `orders` start at the same moment on a database nobody has
// migrated yet. Every one of them starts, and the migrations ran once: migration 002 wrote one
// row into `migration_runs`, and each migration is listed once.
import { afterAll, beforeAll, describe, it } from "vitest";
import { type Dialect, Instance, requirePostgres, testDatabase } from "./kit.js";

const INSTANCES = 4;
const COMMITS = 5;

beforeAll(requirePostgres);

// The two dialects side by side: they mostly wait on their children.
describe.concurrent.each<Dialect>(["sqlite", "postgres"])(
  "instances starting together: %s",
  (dialect) => {
    const db = testDatabase(dialect, "start");
    const instances: Instance[] = [];
    afterAll(async () => {
      await Promise.all(instances.map((i) => i.kill()));
      await db.drop();
    });

    it(`${INSTANCES} instances at once on a new database migrate it once`, async ({ expect }) => {
      for (let i = 0; i < INSTANCES; i++) {
        instances.push(
          Instance.spawn({
            db,
            node: `orders-${i}`,
            gate: true,
            // Once started, each commits a few transactions of its own on the shared tables.
            work: "place",
            count: COMMITS,
            base: i * 1_000,
          }),
        );
      }
      // Loaded (1-3 s each), then let go in the same instant.
      await Promise.all(instances.map((i) => i.line((l) => l === "loaded", "loaded")));
      const go = Date.now();
      for (const i of instances) i.go();
      const started = await Promise.allSettled(instances.map((i) => i.ready()));
      const took = Date.now() - go;
      expect(started.filter((s) => s.status === "rejected")).toEqual([]);

      const runs = await db.rows<{ node: string }>("select node from migration_runs");
      const service = await db.rows<{ name: string }>(
        "select name from kysely_migration order by name",
      );
      const internal = await db.rows<{ name: string }>(
        "select name from flotilla_migration order by name",
      );
      console.info(
        `start together (${dialect}): ${INSTANCES} started in ${took} ms; migration 002 ran on ` +
          `${runs.map((r) => r.node).join(", ")}`,
      );
      expect(runs).toHaveLength(1);
      expect(service.map((r) => r.name)).toEqual(["001_tables", "002_record_run"]);
      expect(internal.map((r) => r.name)).toEqual(["0001_outbox", "0002_inbox"]);
      // Each instance is up and serving.
      await Promise.all(instances.map((i) => i.line((l) => l === "done", "its commits")));
      const [orders] = await db.rows<{ n: number | string }>("select count(*) as n from orders");
      expect(Number(orders?.n)).toBe(INSTANCES * COMMITS);
      await Promise.all(instances.map((i) => i.stop()));
    }, 60_000);
  },
);

import { sql } from "kysely";
import { ServiceBroker, defineDatabase, defineService } from "../../../src/index.js";
const schema = `exp_${process.pid}`;
const svc = defineService({
  name: "orders",
  database: defineDatabase<{ t: { id: number } }>({
    url: "postgres://postgres@127.0.0.1:5432/test",
    schema,
    migrations: { "001": { up: async (db) => { await sql`create table t (id int)`.execute(db); } } },
  }),
  actions: { n: { handler: async (ctx) => (await ctx.db.selectFrom("t").selectAll().execute()).length } },
});
const b = new ServiceBroker({ nodeID: "x", logger: false });
b.createService(svc);
try {
  await b.start();
  console.log("started", await b.call("orders.n"));
  await b.stop();
} catch (e) { console.log("FAILED", e); }

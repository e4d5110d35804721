import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { defineService } from "flotilla";
import { expect, it } from "vitest";
import { z } from "zod";
import { startBroker } from "../helpers.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Two actions: one validated, one making a nested call with meta. */
const pair = z.object({ a: z.number(), b: z.number() });
const math = defineService({
  name: "math",
  actions: {
    add: { params: pair, handler: (ctx) => ctx.params.a + ctx.params.b },
    nested: { handler: (ctx) => ctx.call("math.add", { a: 1, b: 2 }, { meta: { x: 1 } }) },
  },
});

it("10,000 calls grow the heap (after GC) by under 1 MB", async () => {
  const broker = await startBroker(math);
  const run = async () => {
    for (let i = 0; i < 10_000; i++) {
      await broker.call("math.add", { a: i, b: 1 });
      await broker.call("math.nested", {}, { timeout: 1000 });
    }
  };
  await run(); // warm up: lazy caches and JIT
  gc();
  const before = process.memoryUsage().heapUsed;
  await run();
  gc();
  const growth = process.memoryUsage().heapUsed - before;
  expect(growth).toBeLessThan(1024 * 1024);
});

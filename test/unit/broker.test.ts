import { defineService, type ServiceBroker } from "flotilla";
import { createTestBroker } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";

const brokers: ServiceBroker[] = [];
function broker(): ServiceBroker {
  const b = createTestBroker();
  brokers.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

const math = defineService({
  name: "math",
  actions: {
    add: {
      params: z.object({ a: z.number(), b: z.number() }),
      handler: (ctx) => ctx.params.a + ctx.params.b,
    },
    twice: {
      params: z.object({ n: z.number() }),
      async handler(ctx) {
        const r = (await ctx.call("math.add", { a: ctx.params.n, b: ctx.params.n })) as number;
        return r;
      },
    },
  },
});

describe("ServiceBroker", () => {
  it("calls a local action and returns its result", async () => {
    const b = broker();
    b.createService(math);
    await b.start();
    await expect(b.call("math.add", { a: 2, b: 3 })).resolves.toBe(5);
    await expect(b.call("math.twice", { n: 4 })).resolves.toBe(8);
  });
});

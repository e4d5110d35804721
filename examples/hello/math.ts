import { defineService } from "flotilla";
import { z } from "zod";

/** Adds numbers, and tells whoever listens that it did. */
export const math = defineService({
  name: "math",
  actions: {
    add: {
      params: z.object({ a: z.number(), b: z.number() }),
      async handler(ctx) {
        const sum = ctx.params.a + ctx.params.b;
        ctx.service?.logger.info({ ...ctx.params, sum, from: ctx.callerNodeID }, "math.add");
        await ctx.emit("math.added", { a: ctx.params.a, b: ctx.params.b, sum });
        return sum;
      },
    },
  },
});

export default math;

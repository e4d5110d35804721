import { defineService } from "flotilla";
import { z } from "zod";
import type { math } from "./math.js";

/** Greets people with a lucky number it gets from the math service. */
export const greeter = defineService({
  name: "greeter",
  dependencies: ["math"],
  actions: {
    welcome: {
      params: z.object({ name: z.string().min(1) }),
      // The return type is written out: a handler that calls a service listed in `Services`,
      // inside a service listed there too, must not have its type inferred from its own body.
      async handler(ctx): Promise<string> {
        const lucky = await ctx.call("math.add", { a: ctx.params.name.length, b: 40 });
        return `Welcome, ${ctx.params.name}! Your lucky number is ${lucky}.`;
      },
    },
  },
  events: {
    "math.added": {
      params: z.object({ a: z.number(), b: z.number(), sum: z.number() }),
      handler(ctx) {
        // ctx.logger binds the request ID, the event and, when traced, trace_id and span_id.
        ctx.logger.info(ctx.params, `heard that math added ${ctx.params.a} + ${ctx.params.b}`);
      },
    },
  },
});

declare module "flotilla" {
  interface Services {
    math: typeof math;
    greeter: typeof greeter;
  }
}

export default greeter;

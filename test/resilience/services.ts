import { type Context, defineService, FlotillaError } from "flotilla";

/** A service whose instances can be told to fail, for breaker and retry tests. */
export function workService(tag: string, state: { failing: boolean } = { failing: false }) {
  return defineService({
    name: "work",
    actions: {
      run: {
        idempotent: true,
        async handler(ctx: Context) {
          await new Promise((resolve) => setTimeout(resolve, Number(ctx.params.ms ?? 2)));
          if (state.failing) throw new FlotillaError(`${tag} is broken`, "BROKEN", 500);
          return tag;
        },
      },
      once: {
        // Not idempotent: never retried.
        handler: (ctx: Context) =>
          new Promise((resolve) => setTimeout(() => resolve(tag), Number(ctx.params.ms ?? 2))),
      },
    },
  });
}

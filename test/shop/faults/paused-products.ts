// The shop's products service with a `confirm` that never answers: it writes `confirming
// <orderId>` on stdout and waits. A checkout then stops right after its stock was reserved, and
// the test SIGKILLs the process at that point, every time (not by luck of timing). Everything
// else (reserve, release, the expiry timer) is the real service.
import products from "../../../examples/shop/services/products/service.js";

export default {
  ...products,
  actions: {
    ...products.actions,
    confirm: {
      ...products.actions?.confirm,
      handler(ctx: { params: { orderId: string } }): Promise<never> {
        process.stdout.write(`confirming ${ctx.params.orderId}\n`);
        return new Promise<never>(() => undefined);
      },
    },
  },
};

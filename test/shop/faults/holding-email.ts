// The shop's email service whose `orders.created` handler never finishes: it writes `mailing
// <orderId>` on stdout and waits. The event is then in this process's hands, and only there, when
// the test SIGKILLs it, every time (not by luck of timing). Its other handlers are the real ones.
import email from "../../../examples/shop/services/email/service.js";

export default {
  ...email,
  events: {
    ...email.events,
    "orders.created": {
      ...email.events?.["orders.created"],
      handler(ctx: { params: { orderId: string } }): Promise<never> {
        process.stdout.write(`mailing ${ctx.params.orderId}\n`);
        return new Promise<never>(() => undefined);
      },
    },
  },
};

// The email service: tells buyers what became of their orders. It listens to the orders
// service's outbox events with durable handlers, so a mail is sent even when this service or
// the mail server was down when the order was decided:
//
// - `inbox: true`: the event's message ID is recorded in the same transaction as the handler's
//   writes (here, the log of sent mails). A redelivered event finds it and sends nothing.
// - A send that fails (the SMTP server is down) throws: the transaction rolls back, and the
//   event is delivered again after a backoff, until the server takes the mail.
// - The mail's `Message-ID` is made from the event's message ID, so if a mail was sent but the
//   commit after it failed, the copy sent on redelivery has the same ID and the receiving side
//   (the shop's mailbox) recognises it.
//
// The send happens inside the inbox transaction; on SQLite that holds the service's write lock
// for the length of one SMTP exchange, which the timeouts below keep short.
import { randomUUID } from "node:crypto";
import { type Context, type DataContext, defineDatabase, defineService } from "flotilla";
import { createTransport } from "nodemailer";
import { z } from "zod";
import { shopConfig } from "../../shared/config.js";
import { type EmailDB, migrations } from "./migrations.js";
import { confirmationMail, type MailContent, rejectionMail } from "./templates.js";

/** The sender of the shop's mails. */
export const SHOP_SENDER = "Flotilla Shop <shop@flotilla.test>";

/** The domain part of the shop's `Message-ID`s: `<event message ID@shop.flotilla>`. */
export const MESSAGE_ID_DOMAIN = "shop.flotilla";

type Transport = ReturnType<typeof createTransport>;
type EmailContext = Context<unknown> & DataContext<EmailDB>;

/** The SMTP transport of each running instance of the service. */
const transports = new WeakMap<object, Transport>();

const Item = z.object({
  productId: z.string(),
  name: z.string(),
  qty: z.number(),
  price: z.number(),
});

/** `orders.created`: the README's fields, and what the confirmation lists. */
const OrderCreated = z.object({
  orderId: z.string(),
  userId: z.string(),
  email: z.string(),
  total: z.number(),
  items: z.array(Item).optional(),
  subtotal: z.number().optional(),
  discount: z.number().optional(),
  coupon: z.string().optional(),
});

/** `orders.status`: the README's fields, and where to tell the buyer. */
const OrderStatusChanged = z.object({
  orderId: z.string(),
  userId: z.string(),
  email: z.string().optional(),
  status: z.enum(["pending", "confirmed", "rejected"]),
  reason: z.string().optional(),
});

/** Retries of a mail that could not be sent: 500 ms doubling to a minute, 20 times (~15 min). */
const RETRY = { maxRetries: 20, backoff: { delay: 500, maxDelay: 60_000 } };

/** A mail about an order, as the handlers send and log it. */
interface OrderMail extends MailContent {
  orderId: string;
  kind: "confirmed" | "rejected";
  to: string;
}

/**
 * Sends `mail` with the `Message-ID` of the event being handled and logs it in `sent_mails`
 * (in the inbox transaction). Throws when the SMTP server does not take it, so the event is
 * retried.
 */
async function send(ctx: EmailContext, mail: OrderMail): Promise<void> {
  const transport = ctx.service === undefined ? undefined : transports.get(ctx.service);
  if (transport === undefined) throw new Error("The email service is not started.");
  // Durable deliveries always have a message ID; a plain emit (no durable handler known to
  // the emitter) would not, and then the mail cannot be recognised when sent again.
  const messageId = `<${ctx.messageID ?? randomUUID()}@${MESSAGE_ID_DOMAIN}>`;
  await transport.sendMail({
    from: SHOP_SENDER,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    messageId,
  });
  await ctx.db
    .insertInto("sent_mails")
    .values({
      message_id: messageId,
      order_id: mail.orderId,
      kind: mail.kind,
      recipient: mail.to,
      subject: mail.subject,
      sent_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.column("message_id").doNothing())
    .execute();
  ctx.logger.info({ orderId: mail.orderId, to: mail.to, messageId }, `sent: ${mail.subject}`);
}

/**
 * Mails buyers the outcome of their orders: a confirmation on `orders.created`, a notice on
 * `orders.status` when an order was rejected. Sends over SMTP to `SMTP_URL` (default: the
 * shop's mailbox on `127.0.0.1:$SHOP_SMTP_PORT`, 2525).
 */
export const email = defineService({
  name: "email",
  database: defineDatabase<EmailDB>({ migrations }),
  events: {
    "orders.created": {
      params: OrderCreated,
      durable: true,
      inbox: true,
      ...RETRY,
      async handler(ctx) {
        const order = ctx.params;
        await send(ctx, {
          ...confirmationMail(order),
          orderId: order.orderId,
          kind: "confirmed",
          to: order.email,
        });
      },
    },
    "orders.status": {
      params: OrderStatusChanged,
      durable: true,
      inbox: true,
      ...RETRY,
      async handler(ctx) {
        const change = ctx.params;
        // Confirmations go out on `orders.created`, which lists the items.
        if (change.status !== "rejected") return;
        if (change.email === undefined) {
          ctx.logger.warn(
            { orderId: change.orderId },
            "a rejected order without an email: no mail",
          );
          return;
        }
        await send(ctx, {
          ...rejectionMail(change),
          orderId: change.orderId,
          kind: "rejected",
          to: change.email,
        });
      },
    },
  },

  started(service) {
    const { smtpUrl } = shopConfig();
    // Short timeouts: a mail server that hangs fails the send (and it is retried) rather than
    // holding the inbox transaction. The demo mailbox speaks plain SMTP, without TLS.
    // Pooled: a connection per mail costs the server's greeting delay every time (about 100 ms
    // with the demo mailbox; measured in bench/shop), a pooled one 2–4 ms a mail.
    const transport = createTransport({
      url: smtpUrl,
      pool: true,
      connectionTimeout: 5_000,
      greetingTimeout: 5_000,
      socketTimeout: 10_000,
    });
    transports.set(service, transport);
    service.logger.info(`Sending mail to ${smtpUrl.replace(/\/\/[^@/]*@/, "//")}`);
  },

  stopped(service) {
    transports.get(service)?.close();
    transports.delete(service);
  },
});

declare module "flotilla" {
  interface Services {
    email: typeof email;
  }
}

export default email;

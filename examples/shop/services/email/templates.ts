// The shop's mails, as plain text: the confirmation of a placed order and the notice of one that
// was not placed. Pure functions of the event payloads, so they are easy to read and to test.

/** One line of an order, as `orders.created` carries it (cents). */
export interface MailItem {
  productId: string;
  name: string;
  qty: number;
  price: number;
}

/** What a confirmation needs: `orders.created`'s payload. */
export interface ConfirmationInput {
  orderId: string;
  total: number;
  items?: MailItem[] | undefined;
  subtotal?: number | undefined;
  discount?: number | undefined;
  coupon?: string | undefined;
}

/** What a rejection needs: `orders.status`'s payload for a rejected order. */
export interface RejectionInput {
  orderId: string;
  reason?: string | undefined;
}

/** A mail's subject and text body. */
export interface MailContent {
  subject: string;
  text: string;
}

const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

/** Cents as the storefront shows them: `1250` → `$12.50`. */
export function money(cents: number): string {
  return dollars.format(cents / 100);
}

/**
 * The mail of a confirmed order: subject "Your order <id> is confirmed", then one line per
 * item, the discount when a coupon was used, and the total.
 *
 * @example
 * ```ts
 * confirmationMail({ orderId: "o1", total: 2400, items: [{ productId: "p1", name: "Mug", qty: 2, price: 1200 }] });
 * // { subject: "Your order o1 is confirmed", text: "Thank you for your order!\n\n  2 x Mug ..." }
 * ```
 */
export function confirmationMail(order: ConfirmationInput): MailContent {
  const lines = (order.items ?? []).map(
    (i) => `  ${i.qty} x ${i.name} at ${money(i.price)}: ${money(i.qty * i.price)}`,
  );
  const sums: string[] = [];
  if (order.discount !== undefined && order.discount > 0) {
    if (order.subtotal !== undefined) sums.push(`Subtotal: ${money(order.subtotal)}`);
    const coupon = order.coupon === undefined ? "" : ` (coupon ${order.coupon})`;
    sums.push(`Discount${coupon}: -${money(order.discount)}`);
  }
  sums.push(`Total: ${money(order.total)}`);
  const text = [
    "Thank you for your order!",
    "",
    ...(lines.length > 0 ? [...lines, ""] : []),
    ...sums,
    "",
    `Order ${order.orderId}. We will let you know when it ships.`,
    "",
    "The Flotilla Shop",
  ].join("\n");
  return { subject: `Your order ${order.orderId} is confirmed`, text };
}

/**
 * The mail of a rejected order: subject "Your order <id> was not placed", and why.
 *
 * @example
 * ```ts
 * rejectionMail({ orderId: "o1", reason: "Coupon ONCE is used up" }).subject;
 * // "Your order o1 was not placed"
 * ```
 */
export function rejectionMail(order: RejectionInput): MailContent {
  const text = [
    "We are sorry: your order could not be placed.",
    "",
    `Reason: ${order.reason ?? "unknown"}`,
    "",
    "Nothing was charged, and anything held for the order was released. Please try again.",
    "",
    `Order ${order.orderId}.`,
    "",
    "The Flotilla Shop",
  ].join("\n");
  return { subject: `Your order ${order.orderId} was not placed`, text };
}

// Why an order was rejected, in words a buyer understands: the saga's failures (another
// service's error code, or a call that got no answer) turned into the order's `reason`.
import type { Context } from "flotilla";
import type { OrderItem } from "./order.js";

/** The saga's steps in other services (and its own commit), where a failure happened. */
export type Step = "reserve" | "hold" | "confirm" | "redeem" | "commit";

/** The saga's own failure code: `coupons.redeem` found no held use to redeem. */
export const LOST_HOLD = "COUPON_HOLD_LOST";

/** Error codes of a service that cannot answer now (down, slow, overloaded, unknown yet). */
const UNAVAILABLE = new Set([
  "SERVICE_NOT_AVAILABLE",
  "SERVICE_NOT_FOUND",
  "REQUEST_TIMEOUT",
  "CIRCUIT_OPEN",
  "QUEUE_FULL",
  "BROKER_STOPPED",
]);

/** What a buyer reads about a coupon that cannot be used (`COUPON_INVALID`'s `data.reason`). */
const COUPON_REASONS: Record<string, (code: string) => string> = {
  unknown: (code) => `Coupon ${code} does not exist`,
  not_started: (code) => `Coupon ${code} is not valid yet`,
  expired: (code) => `Coupon ${code} has expired`,
  used_up: (code) => `Coupon ${code} is used up`,
  used_by_you: (code) => `You have already used coupon ${code}`,
};

/**
 * The reason of a failure at `step`, or `undefined` for a failure nobody planned for (the saga
 * logs it and says "Checkout failed, try again"). `items` name the product of `OUT_OF_STOCK`;
 * `coupon` is the code the buyer gave.
 *
 * @example
 * ```ts
 * reasonOf(new ServiceNotAvailableError("products.reserve"), "reserve", [], undefined);
 * // "Products are unavailable, try again"
 * ```
 */
export function reasonOf(
  err: unknown,
  step: Step,
  items: readonly OrderItem[],
  coupon: string | undefined,
): string | undefined {
  const { code, data, retryable } = err as { code?: unknown; data?: unknown; retryable?: unknown };
  const detail = (data ?? {}) as { productId?: unknown; reason?: unknown; code?: unknown };
  switch (code) {
    case "OUT_OF_STOCK": {
      const productId = String(detail.productId ?? "");
      const name = items.find((i) => i.productId === productId)?.name;
      return `Out of stock: ${name || productId || "an item"}`;
    }
    case "PRODUCT_NOT_FOUND":
      return "A product in your cart is no longer sold";
    case "RESERVATION_EXPIRED":
      return "Your reservation expired, try again";
    case LOST_HOLD:
      return `Coupon ${coupon} could not be applied, try again`;
    case "COUPON_INVALID": {
      const shown = String(detail.code ?? coupon ?? "");
      const why = COUPON_REASONS[String(detail.reason)];
      return why === undefined ? `Coupon ${shown} cannot be used` : why(shown);
    }
  }
  if (UNAVAILABLE.has(String(code)) || retryable === true) {
    if (step === "reserve" || step === "confirm") return "Products are unavailable, try again";
    if (step === "hold" || step === "redeem") return "Coupons are unavailable, try again";
  }
  return undefined;
}

/**
 * The lines named and priced from the catalog (`products.get`), for an order rejected before
 * its reservation; best effort: a line whose product cannot be read stays as it was.
 */
export async function namedLines(
  ctx: Context<unknown>,
  timeout: number,
  items: readonly OrderItem[],
): Promise<OrderItem[]> {
  return Promise.all(
    items.map(async (item) => {
      try {
        const product = (await ctx.call("products.get", { id: item.productId }, { timeout })) as {
          name: string;
          price: number;
        };
        return { ...item, name: product.name, price: product.price };
      } catch {
        return item;
      }
    }),
  );
}

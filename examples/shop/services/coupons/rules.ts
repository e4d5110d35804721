// What a coupon is worth and when it may be used: pure functions over a coupon row and the
// counts of its uses, so the service's actions (uses.ts) decide the same way everywhere.
import { FlotillaError } from "flotilla";
import type { CouponKind, CouponsDB } from "./migrations.js";

type CouponRow = CouponsDB["coupons"];

/** A coupon as the service shows it; `used` counts held and redeemed uses. */
export interface Coupon {
  code: string;
  kind: CouponKind;
  /** Percent (1–100) or cents. */
  amount: number;
  /** ISO 8601, or `null`: valid from the start. */
  validFrom: string | null;
  /** ISO 8601 (the first instant it is no longer valid), or `null`: valid for ever. */
  validUntil: string | null;
  /** `null`: no limit. */
  maxUses: number | null;
  /** `null`: no limit. */
  maxUsesPerUser: number | null;
  used: number;
}

/** Why a coupon cannot be used, as `COUPON_INVALID` carries it in `data.reason`. */
export type InvalidReason = "unknown" | "not_started" | "expired" | "used_up" | "used_by_you";

/** A coupon's row shown with its count of uses. */
export function shown(row: CouponRow, used: number): Coupon {
  return {
    code: row.code,
    kind: row.kind,
    amount: row.amount,
    validFrom: row.valid_from,
    validUntil: row.valid_until,
    maxUses: row.max_uses,
    maxUsesPerUser: row.max_uses_per_user,
    used,
  };
}

/** Codes compare without case and surrounding spaces: `welcome10` is `WELCOME10`. */
export const normalizedCode = (code: string) => code.trim().toUpperCase();

/**
 * Why the coupon cannot be used now by a user who already used it `usedByUser` times while it
 * has `used` uses in all, or `undefined` when it can. `usedByUser` is `undefined` for an
 * anonymous check, which skips the per-user limit.
 */
export function invalidReason(
  coupon: CouponRow,
  used: number,
  usedByUser: number | undefined,
  now: number = Date.now(),
): InvalidReason | undefined {
  if (coupon.valid_from !== null && now < Date.parse(coupon.valid_from)) return "not_started";
  if (coupon.valid_until !== null && now >= Date.parse(coupon.valid_until)) return "expired";
  if (coupon.max_uses !== null && used >= coupon.max_uses) return "used_up";
  const perUser = coupon.max_uses_per_user;
  if (perUser !== null && usedByUser !== undefined && usedByUser >= perUser) return "used_by_you";
  return undefined;
}

/**
 * The cents a coupon takes off `subtotal`: a percentage rounded down, or a fixed amount; never
 * more than the subtotal.
 *
 * @example
 * ```ts
 * discountOf({ kind: "percent", amount: 10 }, 1999); // 199
 * discountOf({ kind: "fixed", amount: 500 }, 300); // 300
 * ```
 */
export function discountOf(coupon: Pick<CouponRow, "kind" | "amount">, subtotal: number): number {
  const off =
    coupon.kind === "percent" ? Math.floor((subtotal * coupon.amount) / 100) : coupon.amount;
  return Math.max(0, Math.min(off, subtotal));
}

const MESSAGES: Record<InvalidReason, string> = {
  unknown: "There is no such coupon.",
  not_started: "This coupon is not valid yet.",
  expired: "This coupon has expired.",
  used_up: "This coupon has been used up.",
  used_by_you: "You have already used this coupon.",
};

/** The `COUPON_INVALID` (422) error for `reason`, with `data: { code, reason }`. */
export function couponInvalid(code: string, reason: InvalidReason): FlotillaError {
  return new FlotillaError(MESSAGES[reason], "COUPON_INVALID", 422, { data: { code, reason } });
}

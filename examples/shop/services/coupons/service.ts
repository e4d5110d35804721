// The coupons service: discount codes and their limits. The storefront checks a code against the
// cart; the orders saga holds a use for an order, then redeems or releases it (uses.ts); admins
// list, add and change coupons.
import {
  ConflictError,
  defineDatabase,
  defineService,
  FlotillaError,
  type ServiceInstance,
  ValidationError,
} from "flotilla";
import { z } from "zod";
import { optionalCallerOf } from "../../shared/auth.js";
import { SEED_COUPONS, seedEnabled } from "../../shared/seed.js";
import { type CouponsDB, migrations } from "./migrations.js";
import { type Coupon, normalizedCode } from "./rules.js";
import { type Applied, check, hold, listCoupons, redeem, release } from "./uses.js";

/** Whether the service's database is PostgreSQL, where `hold` locks rows with `for update`. */
const onPostgres = (ctx: { service: ServiceInstance | undefined }) =>
  ctx.service?.data?.health().dialect === "postgres";

function notFound(code: string): FlotillaError {
  return new FlotillaError(`No coupon ${code}.`, "COUPON_NOT_FOUND", 404, { data: { code } });
}

/** A percentage above 100 would pay the buyer: refused for create and update alike. */
function checkAmount(kind: string, amount: number): void {
  if (kind === "percent" && amount > 100) {
    throw new ValidationError("A percent coupon takes at most 100 % off.", [
      { path: ["amount"], message: "at most 100 for a percent coupon" },
    ]);
  }
}

/** An ISO 8601 time (any offset) stored in UTC, or `null` for no bound. */
const instant = z.iso
  .datetime({ offset: true })
  .nullable()
  .transform((s) => (s === null ? null : new Date(s).toISOString()));
const code = z.string().trim().min(1).max(40).transform(normalizedCode);
const subtotal = z.number().int().min(0);
const limit = z.number().int().min(1).nullable();
const admin = { roles: ["admin"], enforce: "always" } as const;

/** Discount codes: percent or fixed, a validity window, limits in all and per user. */
export const coupons = defineService({
  name: "coupons",
  database: defineDatabase<CouponsDB>({ migrations }),
  actions: {
    check: {
      params: z.object({ code, subtotal }),
      rest: "POST /coupons/check",
      visibility: "published",
      summary: "What a code takes off a subtotal, for the caller (nothing is held)",
      handler(ctx): Promise<Applied> {
        // Anonymous checks skip the per-user limit; holding one at checkout checks it.
        const userId = optionalCallerOf(ctx)?.id;
        return check(ctx.db, ctx.params.code, ctx.params.subtotal, userId);
      },
    },

    hold: {
      params: z.object({
        code,
        userId: z.string().min(1),
        orderId: z.string().min(1),
        subtotal,
      }),
      summary: "Holds one use of a coupon for an order (idempotent per order)",
      handler(ctx): Promise<Applied> {
        const lockRows = onPostgres(ctx);
        return ctx.transaction((tx) => hold(tx.db, lockRows, ctx.params));
      },
    },

    redeem: {
      params: z.object({ orderId: z.string().min(1) }),
      summary: "Turns an order's held use into a redeemed one (idempotent)",
      async handler(ctx): Promise<{ redeemed: boolean }> {
        const orderId = ctx.params.orderId;
        return { redeemed: await ctx.transaction((tx) => redeem(tx.db, orderId)) };
      },
    },

    release: {
      params: z.object({ orderId: z.string().min(1) }),
      summary: "Gives an order's use back (idempotent)",
      async handler(ctx): Promise<{ released: boolean }> {
        const orderId = ctx.params.orderId;
        return { released: await ctx.transaction((tx) => release(tx.db, orderId)) };
      },
    },

    list: {
      auth: admin,
      rest: "GET /coupons",
      visibility: "published",
      summary: "Every coupon with its uses (admin)",
      handler: (ctx): Promise<Coupon[]> => listCoupons(ctx.db),
    },

    create: {
      params: z.object({
        code: code.pipe(z.string().regex(/^[A-Z0-9_-]+$/, "letters, digits, - and _ only")),
        kind: z.enum(["percent", "fixed"]),
        amount: z.number().int().min(1),
        validFrom: instant.default(null),
        validUntil: instant.default(null),
        maxUses: limit.default(null),
        maxUsesPerUser: limit.default(null),
      }),
      auth: admin,
      rest: "POST /coupons",
      visibility: "published",
      summary: "Adds a coupon (admin)",
      async handler(ctx): Promise<Coupon> {
        const p = ctx.params;
        checkAmount(p.kind, p.amount);
        const now = new Date().toISOString();
        try {
          await ctx.db
            .insertInto("coupons")
            .values({
              code: p.code,
              kind: p.kind,
              amount: p.amount,
              valid_from: p.validFrom,
              valid_until: p.validUntil,
              max_uses: p.maxUses,
              max_uses_per_user: p.maxUsesPerUser,
              created_at: now,
              updated_at: now,
            })
            .execute();
        } catch (err) {
          if (err instanceof ConflictError) {
            throw new FlotillaError(`Coupon ${p.code} exists already.`, "COUPON_EXISTS", 409, {
              data: { code: p.code },
            });
          }
          throw err;
        }
        return { ...p, used: 0 };
      },
    },

    update: {
      params: z.object({
        code,
        kind: z.enum(["percent", "fixed"]).optional(),
        amount: z.number().int().min(1).optional(),
        validFrom: instant.optional(),
        validUntil: instant.optional(),
        maxUses: limit.optional(),
        maxUsesPerUser: limit.optional(),
      }),
      auth: admin,
      rest: "PATCH /coupons/:code",
      visibility: "published",
      summary: "Changes a coupon (admin); `null` removes a bound or a limit",
      async handler(ctx): Promise<Coupon> {
        const p = ctx.params;
        return ctx.transaction(async (tx) => {
          const row = await tx.db
            .selectFrom("coupons")
            .select(["kind", "amount"])
            .where("code", "=", p.code)
            .executeTakeFirst();
          if (row === undefined) throw notFound(p.code);
          checkAmount(p.kind ?? row.kind, p.amount ?? row.amount);
          await tx.db
            .updateTable("coupons")
            .set({
              kind: p.kind,
              amount: p.amount,
              valid_from: p.validFrom,
              valid_until: p.validUntil,
              max_uses: p.maxUses,
              max_uses_per_user: p.maxUsesPerUser,
              updated_at: new Date().toISOString(),
            })
            .where("code", "=", p.code)
            .execute();
          const [coupon] = await listCoupons(tx.db, p.code);
          return coupon!;
        });
      },
    },
  },

  /** Inserts the demo coupons into an empty table (unless `SHOP_SEED=0`). */
  async started(service) {
    if (!seedEnabled()) return;
    await service.transaction(async (tx) => {
      const any = await tx.db.selectFrom("coupons").select("code").limit(1).executeTakeFirst();
      if (any !== undefined) return;
      const now = new Date().toISOString();
      await tx.db
        .insertInto("coupons")
        .values(
          SEED_COUPONS.map((c) => ({
            code: c.code,
            kind: c.kind,
            amount: c.amount,
            valid_from: c.validFrom,
            valid_until: c.validUntil,
            max_uses: c.maxUses,
            max_uses_per_user: c.maxUsesPerUser,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    });
  },
});

declare module "flotilla" {
  interface Services {
    coupons: typeof coupons;
  }
}

export default coupons;

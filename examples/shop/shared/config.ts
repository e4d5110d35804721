// The shop's settings, read from the environment in one place: ports, where the data goes, the
// transporter and the JWT secret. `start.ts` reads them once and hands them to every child
// process through the same variables, so all processes agree. (The demo accounts and catalog
// are in seed.ts; signing and verifying tokens in auth.ts.)
import { resolve } from "node:path";
import { jwtSecret } from "./auth.js";

/** The services behind the gateway, in the order `npm start` starts them. */
export const SHOP_SERVICES = [
  "mailbox",
  "users",
  "products",
  "coupons",
  "orders",
  "email",
] as const;

/** Everything the shop's processes need to agree on. */
export interface ShopConfig {
  /** The gateway's HTTP port (`SHOP_PORT`, default 3000; 0 picks a free one). */
  port: number;
  /** The gateway's interface (`SHOP_HOST`, default `127.0.0.1`). */
  host: string;
  /** The mailbox's SMTP port (`SHOP_SMTP_PORT`, default 2525). */
  smtpPort: number;
  /** Where mail is sent (`SMTP_URL`, default the mailbox: `smtp://127.0.0.1:<smtpPort>`). */
  smtpUrl: string;
  /** Folder of the SQLite files (`SHOP_DATA_DIR`, default `./.data/shop`), absolute. */
  dataDir: string;
  /** The transporter URL (`FLOTILLA_TRANSPORTER`, default `tcp://`). */
  transporter: string;
  /**
   * The HS256 secret of the users' tokens: `SHOP_JWT_SECRET`, else auth.ts's development secret
   * (`start.ts` generates one per start when the variable is not set).
   */
  jwtSecret: string;
  /** How long products stay reserved for an unfinished order, ms (`SHOP_RESERVATION_TTL`). */
  reservationTtl: number;
}

/**
 * The shop's settings from `env` (default `process.env`). Bad numbers are refused with the
 * variable's name rather than turned into `NaN` ports.
 *
 * @example
 * ```ts
 * const { port, dataDir } = shopConfig();
 * ```
 */
export function shopConfig(env: NodeJS.ProcessEnv = process.env): ShopConfig {
  const smtpPort = integer(env, "SHOP_SMTP_PORT", 2525);
  return {
    port: integer(env, "SHOP_PORT", 3000),
    host: text(env, "SHOP_HOST") ?? "127.0.0.1",
    smtpPort,
    smtpUrl: text(env, "SMTP_URL") ?? `smtp://127.0.0.1:${smtpPort}`,
    dataDir: resolve(text(env, "SHOP_DATA_DIR") ?? "./.data/shop"),
    transporter: text(env, "FLOTILLA_TRANSPORTER") ?? "tcp://",
    jwtSecret: env.SHOP_JWT_SECRET || jwtSecret(), // as auth.ts reads it: untrimmed
    reservationTtl: integer(env, "SHOP_RESERVATION_TTL", 15 * 60_000),
  };
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = text(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new TypeError(`${name} must be a whole number ≥ 0, not '${value}'`);
  }
  return parsed;
}

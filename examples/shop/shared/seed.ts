// The demo data: what the shop holds on its first start. Each service's `started` hook inserts
// its part when its table is empty (so a restart keeps what the demo changed) unless
// `SHOP_SEED=0`, which the tests set to start from nothing.
import type { Role } from "./auth.js";

/** A product of the demo catalog. Prices are in cents. */
export interface SeedProduct {
  sku: string;
  name: string;
  description: string;
  price: number;
  stock: number;
}

/** A coupon of the demo. Dates are ISO 8601 strings; `null` means no bound (or no limit). */
export interface SeedCoupon {
  code: string;
  kind: "percent" | "fixed";
  amount: number;
  validFrom: string | null;
  validUntil: string | null;
  maxUses: number | null;
  maxUsesPerUser: number | null;
}

/** A demo account, with its password in clear (it is printed on the demo's start page). */
export interface SeedUser {
  email: string;
  name: string;
  password: string;
  role: Role;
}

/** Whether the services insert the demo data: unless `SHOP_SEED` is `"0"`. Read at each call. */
export function seedEnabled(): boolean {
  return process.env.SHOP_SEED !== "0";
}

/** The demo catalog: twelve products, one page of the storefront. */
export const SEED_PRODUCTS: readonly SeedProduct[] = [
  {
    sku: "MUG-001",
    name: "Enamel Mug",
    description: "A white enamel camping mug that survives the dishwasher and the campfire.",
    price: 1200,
    stock: 40,
  },
  {
    sku: "TEE-001",
    name: "Flotilla T-Shirt",
    description: "Organic cotton tee with a small fleet of boats on the chest.",
    price: 2500,
    stock: 25,
  },
  {
    sku: "HOOD-001",
    name: "Harbour Hoodie",
    description: "Heavy fleece hoodie in navy, for long evenings on the pier.",
    price: 5900,
    stock: 12,
  },
  {
    sku: "CAP-001",
    name: "Sailor Cap",
    description: "Cotton cap with an embroidered anchor; one size fits most.",
    price: 1900,
    stock: 30,
  },
  {
    sku: "BOOK-001",
    name: "Designing Small Services",
    description: "A field guide to splitting a system into services that own their data.",
    price: 3900,
    stock: 8,
  },
  {
    sku: "NOTE-001",
    name: "Dotted Notebook",
    description: "A5 notebook, 160 dotted pages, lies flat, for sketching architectures.",
    price: 1400,
    stock: 50,
  },
  {
    sku: "PEN-001",
    name: "Brass Pen",
    description: "A solid brass ballpoint pen that gets better with age.",
    price: 3200,
    stock: 15,
  },
  {
    sku: "STK-001",
    name: "Sticker Pack",
    description: "Ten vinyl stickers: boats, queues, circuit breakers and a very calm broker.",
    price: 500,
    stock: 200,
  },
  {
    sku: "BAG-001",
    name: "Canvas Tote Bag",
    description: "Sturdy canvas tote bag with a rope handle, big enough for a laptop.",
    price: 1800,
    stock: 20,
  },
  {
    sku: "LAMP-001",
    name: "Lighthouse Desk Lamp",
    description: "A small LED desk lamp shaped like a lighthouse; warm white, USB powered.",
    price: 4500,
    stock: 5,
  },
  {
    sku: "SOCK-001",
    name: "Striped Socks",
    description: "Merino wool socks in red and white stripes, two pairs.",
    price: 1600,
    stock: 35,
  },
  {
    sku: "POST-001",
    name: "Fleet Poster",
    description: "A 50x70 cm print of the founding article's diagram, on matte paper.",
    price: 2200,
    stock: 3,
  },
];

/** The demo coupons: a percentage for everyone, a fixed amount, and one that works once. */
export const SEED_COUPONS: readonly SeedCoupon[] = [
  {
    code: "WELCOME10",
    kind: "percent",
    amount: 10,
    validFrom: null,
    validUntil: null,
    maxUses: null,
    maxUsesPerUser: null,
  },
  {
    code: "FIVEOFF",
    kind: "fixed",
    amount: 500,
    validFrom: null,
    validUntil: null,
    maxUses: null,
    maxUsesPerUser: 1,
  },
  {
    code: "ONCE",
    kind: "percent",
    amount: 50,
    validFrom: null,
    validUntil: null,
    maxUses: 1,
    maxUsesPerUser: null,
  },
];

/** The demo accounts: a customer and an admin. */
export const SEED_USERS: readonly SeedUser[] = [
  { email: "demo@shop.test", name: "Demo Customer", password: "demo-pass-123", role: "customer" },
  { email: "admin@shop.test", name: "Shop Admin", password: "admin-pass-123", role: "admin" },
];

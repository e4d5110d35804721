import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Context, defineService, FlotillaError } from "flotilla";
import {
  ContractBrokenError,
  ContractFileError,
  type ContractReport,
  createTestBroker,
  mockAction,
  recordContracts,
  verifyContracts,
  waitForEvent,
} from "flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";

// A consumer (`orders`) and a provider (`products`) tested apart: the consumer's suite records
// what it relies on against mocks, the provider's suite verifies the recordings against its real
// service. A compatible change of the provider passes; each breaking change fails, naming the
// consumer, the action or event, and the field.

class OutOfStockError extends FlotillaError {
  constructor(code = "OUT_OF_STOCK") {
    super("Not enough stock", code, 409);
  }
}

// --- the consumer, and its suite --------------------------------------------------------------

const orders = defineService({
  name: "orders",
  actions: {
    place: {
      params: z.object({ productId: z.number(), qty: z.number() }),
      async handler(ctx) {
        const { productId, qty } = ctx.params;
        const product = await ctx.call<{ name: string; price: number; tags: string[] }>(
          "products.get",
          { id: productId },
        );
        try {
          await ctx.call("products.reserve", { id: productId, qty });
        } catch (err) {
          if (err instanceof FlotillaError && err.code === "OUT_OF_STOCK") {
            return { ok: false, reason: err.code };
          }
          throw err;
        }
        await ctx.emit("orders.created", { orderId: 7, productId, qty });
        return { ok: true, total: product.price * qty, label: product.tags.join("/") };
      },
    },
  },
  events: {
    "products.changed": {
      handler: (ctx: Context) => {
        stockSeen.push(Number(ctx.params.stock));
      },
    },
  },
});
const stockSeen: number[] = [];

/** What the consumer's test puts in place of products: a stub that mocks answer for. */
const productsStub = defineService({
  name: "products",
  actions: { get: { handler: () => undefined }, reserve: { handler: () => undefined } },
});

/** The consumer's suite: its own behaviour, against mocked products, recorded as it goes. */
async function ordersSuite(dir: string): Promise<string[]> {
  const broker = createTestBroker();
  broker.createService(orders);
  broker.createService(productsStub);
  const contracts = recordContracts(broker, { consumer: "orders", dir });
  await broker.start();
  try {
    contracts.given("product 1 in stock");
    mockAction(broker, "products.get", { id: 1, name: "Kettle", price: 25, tags: ["kitchen"] });
    mockAction(broker, "products.reserve", { reserved: true, left: 4 });
    await expect(broker.call("orders.place", { productId: 1, qty: 2 })).resolves.toEqual({
      ok: true,
      total: 50,
      label: "kitchen",
    });
    mockAction(broker, "products.reserve", () => {
      throw new OutOfStockError();
    });
    await expect(broker.call("orders.place", { productId: 1, qty: 99 })).resolves.toEqual({
      ok: false,
      reason: "OUT_OF_STOCK",
    });
    contracts.given(undefined);
    const handled = waitForEvent(broker, "products.changed");
    await broker.emit("products.changed", { id: 1, stock: 3 });
    await handled;
    expect(stockSeen).toContain(3);
    return await contracts.write();
  } finally {
    await broker.stop();
  }
}

// --- the provider, as it is and as it might change ---------------------------------------------

interface Change {
  /** The type of `price` in `products.get`'s answer, or gone. */
  price?: "number" | "string" | "gone";
  /** `tags` as a list of strings (as now) or of objects. */
  tags?: "strings" | "objects";
  /** New fields in answers and payloads, an optional new param: compatible. */
  additions?: boolean;
  /** `products.reserve` takes a `warehouse` param. */
  warehouse?: "optional" | "required";
  /** `products.reserve` is gone. */
  withoutReserve?: boolean;
  /** The code `products.reserve` fails with when stock is short. */
  outOfStockCode?: string;
  /** The handler of `orders.created` needs a `customerId`. */
  createdNeedsCustomer?: boolean;
  /** `products.changed` no longer carries `stock`. */
  changedWithoutStock?: boolean;
}

function productsProvider(change: Change = {}) {
  const stock = new Map<number, number>();
  const sales: number[] = [];
  const warehouse =
    change.warehouse === "required"
      ? { warehouse: z.string() }
      : change.warehouse === "optional" || change.additions
        ? { warehouse: z.string().optional() }
        : {};
  const reserve = {
    params: z.object({ id: z.number(), qty: z.number().int().positive(), ...warehouse }),
    async handler(ctx: Context<{ id: number; qty: number }>) {
      const left = (stock.get(ctx.params.id) ?? 0) - ctx.params.qty;
      if (left < 0) throw new OutOfStockError(change.outOfStockCode);
      stock.set(ctx.params.id, left);
      const changed = change.changedWithoutStock
        ? { id: ctx.params.id }
        : { id: ctx.params.id, stock: left, ...(change.additions ? { at: "now" } : {}) };
      await ctx.emit("products.changed", changed);
      return { reserved: true, left };
    },
  };
  const service = defineService({
    name: "products",
    actions: {
      get: {
        params: z.object({ id: change.additions ? z.union([z.number(), z.string()]) : z.number() }),
        handler(ctx) {
          const id = Number(ctx.params.id);
          const price =
            change.price === "string" ? "25.00" : change.price === "gone" ? undefined : 25;
          const tags = change.tags === "objects" ? [{ label: "kitchen" }] : ["kitchen"];
          return {
            id,
            name: "Kettle",
            price,
            tags,
            ...(change.additions ? { currency: "EUR" } : {}),
          };
        },
      },
      ...(change.withoutReserve ? {} : { reserve }),
    },
    events: {
      "orders.created": {
        params: z.object({
          orderId: z.number(),
          productId: z.number(),
          ...(change.createdNeedsCustomer ? { customerId: z.number() } : {}),
        }),
        handler(ctx) {
          sales.push(ctx.params.productId);
        },
      },
    },
  });
  return { service, stock, sales };
}

/** The provider's suite: its real service on a test broker, verified against the recordings. */
async function verifyProducts(
  dir: string,
  change: Change = {},
  run?: boolean,
): Promise<ContractReport> {
  const provider = productsProvider(change);
  const broker = createTestBroker();
  broker.createService(provider.service);
  await broker.start();
  try {
    return await verifyContracts(broker, {
      provider: "products",
      dir,
      states: { "product 1 in stock": () => provider.stock.set(1, 5) },
      events: {
        "products.changed": (b) => {
          provider.stock.set(1, 5);
          return b.call("products.reserve", { id: 1, qty: 1, warehouse: "north" });
        },
      },
      ...(run === undefined ? {} : { run }),
    });
  } finally {
    await broker.stop();
  }
}

async function brokenBy(dir: string, change: Change): Promise<ContractBrokenError> {
  const error = await verifyProducts(dir, change).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ContractBrokenError);
  return error as ContractBrokenError;
}

// --- the tests -----------------------------------------------------------------------------------

describe("consumer-driven contracts", () => {
  let dir = "";
  let written: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "flotilla-contracts-"));
    written = await ordersSuite(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the consumer's suite writes what it relies on: calls, answers' shapes, events both ways", () => {
    expect(written.map((f) => f.slice(dir.length + 1))).toEqual([
      "orders--any.json",
      "orders--products.json",
    ]);
    const products = JSON.parse(readFileSync(join(dir, "orders--products.json"), "utf8"));
    expect(products).toEqual({
      consumer: "orders",
      format: "flotilla-consumer-contract/1",
      provider: "products",
      interactions: [
        {
          kind: "call",
          action: "products.get",
          given: "product 1 in stock",
          params: { id: 1 },
          result: {
            type: "object",
            properties: {
              id: { type: "number" },
              name: { type: "string" },
              price: { type: "number" },
              tags: { type: "array", items: { type: "string" } },
            },
            required: ["id", "name", "price", "tags"],
          },
        },
        {
          kind: "call",
          action: "products.reserve",
          given: "product 1 in stock",
          params: { id: 1, qty: 2 },
          result: {
            type: "object",
            properties: { left: { type: "number" }, reserved: { type: "boolean" } },
            required: ["left", "reserved"],
          },
        },
        {
          kind: "call",
          action: "products.reserve",
          given: "product 1 in stock",
          params: { id: 1, qty: 99 },
          error: { code: "OUT_OF_STOCK" },
        },
        {
          kind: "handle",
          event: "products.changed",
          payload: {
            type: "object",
            properties: { id: { type: "number" }, stock: { type: "number" } },
            required: ["id", "stock"],
          },
        },
      ],
    });
    // No handler of orders.created on the consumer's broker: any provider that handles it checks it.
    const any = JSON.parse(readFileSync(join(dir, "orders--any.json"), "utf8"));
    expect(any).toMatchObject({
      provider: "*",
      interactions: [
        {
          kind: "emit",
          event: "orders.created",
          given: "product 1 in stock",
          payload: { orderId: 7, productId: 1, qty: 2 },
        },
      ],
    });
  });

  it("recording again gives the same bytes, and drops files of providers no longer relied on", async () => {
    const before = readFileSync(join(dir, "orders--products.json"), "utf8");
    const again = mkdtempSync(join(tmpdir(), "flotilla-contracts-"));
    try {
      writeFileSync(
        join(again, "orders--coupons.json"),
        readFileSync(join(dir, "orders--any.json"), "utf8").replace('"*"', '"coupons"'),
      );
      await ordersSuite(again);
      expect(readFileSync(join(again, "orders--products.json"), "utf8")).toBe(before);
      expect(readdirSync(again).sort()).toEqual(["orders--any.json", "orders--products.json"]);
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });

  it("the provider as it is honours every recorded interaction", async () => {
    await expect(verifyProducts(dir)).resolves.toEqual({
      provider: "products",
      consumers: ["orders"],
      verified: 5,
      skipped: [],
      failures: [],
    });
  });

  it("a compatible change passes: new answer fields, a new optional param, a wider param type", async () => {
    await expect(verifyProducts(dir, { additions: true })).resolves.toMatchObject({
      verified: 5,
      failures: [],
    });
    await expect(verifyProducts(dir, { warehouse: "optional" })).resolves.toMatchObject({
      failures: [],
    });
  });

  const breaking: [string, Change, string[]][] = [
    [
      "a result field the consumer reads is removed",
      { price: "gone" },
      [
        "consumer 'orders', action 'products.get', field 'price': result field 'price' is missing ('orders' saw a number)",
      ],
    ],
    [
      "a result field changes type",
      { price: "string" },
      [
        "consumer 'orders', action 'products.get', field 'price': result field 'price' is a string ('orders' saw a number)",
      ],
    ],
    [
      "the items of a result list change shape",
      { tags: "objects" },
      [
        "consumer 'orders', action 'products.get', field 'tags[0]': result field 'tags[0]' is an object ('orders' saw a string)",
      ],
    ],
    [
      "a param becomes required",
      { warehouse: "required" },
      [
        `consumer 'orders', action 'products.reserve', field 'warehouse': the params 'orders' sends ({"id":1,"qty":2}) are refused`,
        `consumer 'orders', action 'products.reserve', field 'warehouse': the params 'orders' sends ({"id":1,"qty":99}) are refused`,
      ],
    ],
    [
      "an action is removed",
      { withoutReserve: true },
      [
        "consumer 'orders', action 'products.reserve': 'products' has no such action any more",
        "consumer 'orders', action 'products.reserve': 'products' has no such action any more",
        "consumer 'orders', event 'products.changed' (handle): its trigger failed: Action 'products.reserve' is not found.",
      ],
    ],
    [
      "the error code a consumer handles changes",
      { outOfStockCode: "INSUFFICIENT_STOCK" },
      [
        "consumer 'orders', action 'products.reserve': fails with INSUFFICIENT_STOCK (Not enough stock) where 'orders' expects the error OUT_OF_STOCK (given 'product 1 in stock')",
      ],
    ],
    [
      "the handler of an event the consumer emits needs a new field",
      { createdNeedsCustomer: true },
      [
        `consumer 'orders', event 'orders.created' (emit), field 'customerId': the payload 'orders' sends ({"orderId":7,"productId":1,"qty":2}) is refused`,
      ],
    ],
    [
      "an event the consumer handles loses a field",
      { changedWithoutStock: true },
      [
        "consumer 'orders', event 'products.changed' (handle), field 'stock': payload field 'stock' is missing ('orders' saw a number)",
      ],
    ],
  ];

  it.each(breaking)("a breaking change fails: %s", async (_, change, expected) => {
    const error = await brokenBy(dir, change);
    expect(error.code).toBe("CONTRACT_BROKEN");
    const messages = error.data.failures.map((f) => f.message);
    expect(messages).toHaveLength(expected.length);
    expected.forEach((start, i) => {
      expect(messages[i]?.startsWith(start), `${messages[i]}\n  should start with\n${start}`).toBe(
        true,
      );
    });
    for (const line of expected) expect(error.message).toContain(line);
    expect(error.message).toMatch(/^'products' breaks \d interaction\(s\) its consumers recorded:/);
  });

  it("with run: false only schemas are checked, and events the consumer handles are listed as skipped", async () => {
    const report = await verifyProducts(dir, { price: "gone", changedWithoutStock: true }, false);
    expect(report).toEqual({
      provider: "products",
      consumers: ["orders"],
      verified: 4,
      skipped: ["orders: handle products.changed"],
      failures: [],
    });
    await expect(verifyProducts(dir, { warehouse: "required" }, false)).rejects.toBeInstanceOf(
      ContractBrokenError,
    );
  });

  it("says what the provider's suite must add: a state, a trigger", async () => {
    const provider = productsProvider();
    const broker = createTestBroker();
    broker.createService(provider.service);
    await broker.start();
    try {
      const error = await verifyContracts(broker, { provider: "products", dir }).then(
        () => undefined,
        (err: unknown) => err as ContractBrokenError,
      );
      const messages = error?.data.failures.map((f) => f.message) ?? [];
      expect(messages).toContain(
        `consumer 'orders', action 'products.get': needs the provider state 'product 1 in stock': pass states: { "product 1 in stock": ... }`,
      );
      expect(messages).toContain(
        `consumer 'orders', event 'products.changed' (handle): 'orders' handles it: give verifyContracts a trigger that makes 'products' emit it (events: { "products.changed": (broker) => ... })`,
      );
      const silent = await verifyContracts(broker, {
        provider: "products",
        dir,
        states: { "product 1 in stock": () => provider.stock.set(1, 5) },
        events: { "products.changed": () => undefined },
        timeout: 50,
      }).catch((err: ContractBrokenError) => err.data.failures.map((f) => f.message));
      expect(silent).toEqual([
        "consumer 'orders', event 'products.changed' (handle): its trigger emitted no 'products.changed'",
      ]);
      // Another provider has nothing of orders' to verify: the emitted event is not its business.
      await expect(verifyContracts(broker, { provider: "email", dir })).resolves.toMatchObject({
        consumers: [],
        verified: 0,
      });
    } finally {
      await broker.stop();
    }
  });

  it("records under the names it is told, per suite, skips what cannot cross the wire, and stops", async () => {
    const own = mkdtempSync(join(tmpdir(), "flotilla-contracts-"));
    const broker = createTestBroker();
    broker.createService(
      defineService({
        name: "billing",
        actions: {
          charge: {
            async handler(ctx: Context) {
              await ctx.call("ledger.add", { cents: ctx.params.cents });
              await ctx.emit("billing.charged", { cents: ctx.params.cents });
            },
          },
        },
        events: { "user.registered": { handler: () => undefined } },
      }),
    );
    broker.createService(
      defineService({ name: "ledger", actions: { add: { handler: () => ({ ok: true }) } } }),
    );
    const contracts = recordContracts(broker, {
      consumer: "billing",
      dir: own,
      suite: "charges",
      eventProviders: { "billing.charged": ["audit", "mail"], "user.registered": "users" },
    });
    await broker.start();
    try {
      await broker.call("billing.charge", { cents: 5 });
      await broker.call("billing.charge", { cents: 10n }); // not JSON: nothing recorded, call goes on
      const handled = waitForEvent(broker, "user.registered");
      await broker.emit("user.registered", { id: 1 });
      await handled;
      contracts.stop();
      await broker.call("billing.charge", { cents: 7 });
      expect(
        contracts.contracts().map((c) => [c.provider, c.suite, c.interactions.length]),
      ).toEqual([
        ["audit", "charges", 1],
        ["ledger", "charges", 1],
        ["mail", "charges", 1],
        ["users", "charges", 1],
      ]);
      expect(contracts.contracts()[1]?.interactions).toEqual([
        {
          kind: "call",
          action: "ledger.add",
          params: { cents: 5 },
          result: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
        },
      ]);
      const files = await contracts.write();
      expect(files.map((f) => f.slice(own.length + 1))).toEqual([
        "billing--audit--charges.json",
        "billing--ledger--charges.json",
        "billing--mail--charges.json",
        "billing--users--charges.json",
      ]);
    } finally {
      await broker.stop();
      rmSync(own, { recursive: true, force: true });
    }
  });

  it("refuses a file that is not a contract, naming it", async () => {
    const bad = mkdtempSync(join(tmpdir(), "flotilla-contracts-"));
    try {
      writeFileSync(join(bad, "x.json"), JSON.stringify({ format: "pact", consumer: "a" }));
      const broker = createTestBroker();
      const error = await verifyContracts(broker, { provider: "products", dir: bad }).catch(
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(ContractFileError);
      expect(error).toMatchObject({ code: "CONTRACT_FILE_INVALID" });
      expect(String((error as Error).message)).toContain("x.json");
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});

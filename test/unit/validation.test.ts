import type { StandardSchemaV1 } from "@standard-schema/spec";
import { defineService, ValidationError } from "flotilla";
import { waitForEvent } from "flotilla/testing";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { startBroker } from "../helpers.js";

describe("validation", () => {
  const libraries = {
    zod: z.object({ id: z.coerce.number().int(), tags: z.array(z.string()).optional() }),
    valibot: v.object({
      id: v.pipe(v.unknown(), v.transform(Number), v.number(), v.integer()),
      tags: v.optional(v.array(v.string())),
    }),
  };

  for (const [library, schema] of Object.entries(libraries)) {
    it(`validates and coerces params with ${library}; invalid params never reach the handler`, async () => {
      let calls = 0;
      const broker = await startBroker(
        defineService({
          name: "items",
          actions: {
            get: {
              params: schema as StandardSchemaV1<unknown, { id: number; tags?: string[] }>,
              handler(ctx) {
                calls += 1;
                return { id: ctx.params.id, type: typeof ctx.params.id };
              },
            },
          },
        }),
      );
      await expect(broker.call("items.get", { id: "7" })).resolves.toEqual({
        id: 7,
        type: "number",
      });
      const err = await broker.call("items.get", { id: "1.5", tags: [1] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      const issues = (err as ValidationError).data;
      expect(err).toMatchObject({ code: "VALIDATION_ERROR", status: 422, retryable: false });
      expect(issues.length).toBeGreaterThan(0);
      expect(issues.every((i) => Array.isArray(i.path) && typeof i.message === "string")).toBe(
        true,
      );
      expect(issues.some((i) => i.path[0] === "id" || i.path[0] === "tags")).toBe(true);
      expect(calls).toBe(1);
    });
  }

  it("reports the path of a nested issue", async () => {
    const items = z.array(z.object({ sku: z.string(), qty: z.number().positive() }));
    const broker = await startBroker(
      defineService({
        name: "orders",
        actions: { place: { params: z.object({ items }), handler: () => "ok" } },
      }),
    );
    const err = (await broker
      .call("orders.place", {
        items: [
          { sku: "a", qty: 1 },
          { sku: "b", qty: -2 },
        ],
      })
      .catch((e: unknown) => e)) as ValidationError;
    expect(err.data).toEqual([{ path: ["items", 1, "qty"], message: expect.any(String) }]);
    expect(err.message).toContain("items.1.qty");
  });

  it("supports asynchronous schemas", async () => {
    const asyncSchema: StandardSchemaV1<unknown, { n: number }> = {
      "~standard": {
        version: 1,
        vendor: "test",
        validate: async (value) =>
          typeof (value as { n?: unknown }).n === "number"
            ? { value: value as { n: number } }
            : { issues: [{ message: "n must be a number", path: ["n"] }] },
      },
    };
    const broker = await startBroker(
      defineService({
        name: "a",
        actions: { go: { params: asyncSchema, handler: (ctx) => ctx.params.n * 2 } },
      }),
    );
    await expect(broker.call("a.go", { n: 2 })).resolves.toBe(4);
    await expect(broker.call("a.go", { n: "x" })).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
      data: [{ path: ["n"], message: "n must be a number" }],
    });
  });

  it("validates event payloads; an invalid one is not handled", async () => {
    const seen: number[] = [];
    const broker = await startBroker(
      defineService({
        name: "mailer",
        events: {
          "orders.placed": {
            params: z.object({ orderId: z.number() }),
            handler: (ctx) => void seen.push(ctx.params.orderId),
          },
        },
      }),
    );
    const bad = waitForEvent(broker, "orders.placed");
    await broker.emit("orders.placed", { orderId: "x" });
    expect((await bad).error).toBeInstanceOf(ValidationError);
    const good = waitForEvent(broker, "orders.placed");
    await broker.emit("orders.placed", { orderId: 7 });
    expect((await good).error).toBeUndefined();
    expect(seen).toEqual([7]);
  });

  it("can be turned off per broker", async () => {
    const broker = await startBroker(
      defineService({
        name: "raw",
        actions: { echo: { params: z.object({ n: z.number() }), handler: (ctx) => ctx.params } },
      }),
      { validation: false },
    );
    await expect(broker.call("raw.echo", { n: "not a number" })).resolves.toEqual({
      n: "not a number",
    });
  });
});

import { defineService, ResultInvalidError } from "flotilla";
import { createTestCluster } from "flotilla/testing";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { setup } from "../gateway/fixtures.js";
import { startBroker } from "../helpers.js";

// `returns`: an action's result schema, checked after the handler in development and tests,
// skipped in production unless asked; a result that breaks it fails the call with RESULT_INVALID.

const Invoice = z.object({ id: z.number(), total: z.number().min(0) });

/** Answers with whatever the caller asks it to, so one service shows good and bad results. */
const invoices = defineService({
  name: "invoices",
  actions: {
    echo: {
      params: z.object({ answer: z.unknown() }),
      returns: Invoice,
      // The point of these tests: a handler that breaks its promise at run time.
      handler: (ctx) => ctx.params.answer as z.input<typeof Invoice>,
    },
    later: {
      params: z.object({ answer: z.unknown() }),
      returns: Invoice,
      handler: async (ctx) => ctx.params.answer as z.input<typeof Invoice>,
    },
    get: {
      params: z.object({ id: z.coerce.number() }),
      returns: Invoice,
      rest: "GET /invoices/:id",
      visibility: "published",
      handler: (ctx) => ({ id: ctx.params.id, total: 3 }),
    },
  },
});

const savedEnv = { ...process.env };
afterEach(() => {
  for (const key of ["NODE_ENV", "FLOTILLA_VALIDATE_RESULTS"]) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
});

describe("an action's returns schema at run time", () => {
  it("lets a matching result through unchanged, fields the schema does not name included", async () => {
    const broker = await startBroker(invoices);
    const answer = { id: 1, total: 9.5, currency: "EUR" };
    await expect(broker.call("invoices.echo", { answer })).resolves.toEqual(answer);
    await expect(broker.call("invoices.later", { answer })).resolves.toEqual(answer);
  });

  it("fails a call whose result does not match with RESULT_INVALID (500) and the issues", async () => {
    const broker = await startBroker(invoices);
    for (const action of ["invoices.echo", "invoices.later"]) {
      const err = await broker
        .call(action, { answer: { id: "7", total: -1 } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResultInvalidError);
      expect(err).toMatchObject({ code: "RESULT_INVALID", status: 500, retryable: false });
      const { message, data } = err as ResultInvalidError;
      expect(message).toContain(`result of '${action}'`);
      expect(data.map((issue) => issue.path)).toEqual([["id"], ["total"]]);
    }
  });

  it("reaches a caller on another node as the same error", async () => {
    const cluster = createTestCluster();
    cluster.node("server").createService(invoices);
    const caller = cluster.node("caller");
    try {
      await cluster.start();
      await caller.waitForServices(["invoices"]);
      const err = await caller
        .call("invoices.echo", { answer: { id: 1 } })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ResultInvalidError);
      expect(err).toMatchObject({ code: "RESULT_INVALID", nodeID: "server" });
    } finally {
      await cluster.stop();
    }
  });

  it("is not checked under NODE_ENV=production, unless the option or the environment asks", async () => {
    const bad = { answer: { id: "x" } };
    process.env.NODE_ENV = "production";
    const production = await startBroker(invoices);
    await expect(production.call("invoices.echo", bad)).resolves.toEqual({ id: "x" });

    const forced = await startBroker(invoices, { validation: { results: true } });
    await expect(forced.call("invoices.echo", bad)).rejects.toThrow(ResultInvalidError);

    process.env.FLOTILLA_VALIDATE_RESULTS = "1";
    const byEnvironment = await startBroker(invoices);
    await expect(byEnvironment.call("invoices.echo", bad)).rejects.toThrow(ResultInvalidError);
  });

  it("is skipped when the option turns it off, while params are still checked", async () => {
    const broker = await startBroker(invoices, { validation: { results: false } });
    await expect(broker.call("invoices.echo", { answer: { id: "x" } })).resolves.toEqual({
      id: "x",
    });
    await expect(broker.call("invoices.get", { id: "not a number" })).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
    });
  });

  it("documents the gateway's success answer in OpenAPI", async () => {
    const { gateway } = await setup({ wrapResponse: false }, [invoices]);
    const doc = gateway.openapi() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const ok = doc.paths["/invoices/{id}"]?.get?.responses["200"];
    expect(JSON.stringify(ok)).toContain('"total"');
    expect(ok).toMatchObject({ content: { "application/json": { schema: {} } } });
    const schema = (ok as { content: Record<string, { schema: Record<string, unknown> }> }).content[
      "application/json"
    ]?.schema;
    const resolved = resolveRef(doc, schema);
    expect(resolved).toMatchObject({
      type: "object",
      properties: { id: { type: "number" }, total: { type: "number", minimum: 0 } },
      required: ["id", "total"],
    });
  });
});

/** Follows a `$ref` into `components/schemas` when the gateway moved the schema there. */
function resolveRef(doc: unknown, schema: Record<string, unknown> | undefined): unknown {
  const ref = schema?.$ref;
  if (typeof ref !== "string") return schema;
  return ref
    .replace(/^#\//, "")
    .split("/")
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], doc);
}

import { Validator } from "@seriousme/openapi-schema-validator";
import { defineService } from "flotilla";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { jwtAuth } from "../../src/gateway/index.js";
import { faults, setup, users } from "./fixtures.js";

// biome-ignore lint/suspicious/noExplicitAny: the tests read deep into a JSON document.
type Json = Record<string, any>;

interface TreeNode {
  name: string;
  children: TreeNode[];
}
const TreeNode: z.ZodType<TreeNode> = z.lazy(() =>
  z.object({ name: z.string(), children: z.array(TreeNode) }),
);
const catalog = defineService({
  name: "catalog",
  version: 2,
  actions: {
    tree: {
      params: z.object({ root: TreeNode, depth: z.number().int().optional() }),
      result: TreeNode,
      rest: "POST /catalog/tree",
      visibility: "published",
      description: "Stores a <b>tree</b>.",
      handler: (ctx) => ctx.params.root,
    },
  },
});

async function validate(doc: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  const validator = new Validator();
  return validator.validate(doc as Parameters<Validator["validate"]>[0]);
}

describe("OpenAPI document", () => {
  it("is a valid OpenAPI 3.1 document served at /openapi.json", async () => {
    const { gateway } = await setup(
      {
        authenticate: jwtAuth({ secret: "s".repeat(32) }),
        rateLimit: { max: 1000 },
        openapi: { title: "Shop", version: "2.3.0", servers: [{ url: "https://shop.example" }] },
      },
      [users, faults, catalog],
    );
    const res = await gateway.app.inject({ url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as Json;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toEqual({ title: "Shop", version: "2.3.0" });
    const result = await validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  it("describes path and query parameters with the params schema", async () => {
    const { gateway } = await setup();
    const doc = gateway.openapi() as Json;
    const get = doc.paths["/users/{id}"].get;
    expect(get).toMatchObject({ operationId: "users.get", summary: "One user", tags: ["users"] });
    expect(get.parameters).toEqual([
      {
        name: "id",
        in: "path",
        required: true,
        schema: { type: "integer", exclusiveMinimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      },
    ]);
    const list = doc.paths["/users"].get;
    expect(list.parameters.map((p: Json) => [p.name, p.in, p.required])).toEqual([
      ["limit", "query", false],
      ["q", "query", false],
    ]);
  });

  it("describes bodies of POST/PUT without the path parameters", async () => {
    const { gateway } = await setup();
    const doc = gateway.openapi() as Json;
    const create = doc.paths["/users"].post.requestBody;
    expect(create.required).toBe(true);
    expect(create.content["application/json"].schema.required).toEqual(["name", "email"]);
    const update = doc.paths["/users/{id}"].put;
    expect(update.parameters[0]).toMatchObject({ name: "id", in: "path" });
    expect(update.requestBody.content["application/json"].schema).toMatchObject({
      properties: { name: { type: "string" } },
      required: ["name"],
    });
    expect(update.requestBody.content["application/json"].schema.properties.id).toBeUndefined();
  });

  it("documents results and the problem answers", async () => {
    const { gateway } = await setup({ wrapResponse: true });
    const doc = gateway.openapi() as Json;
    const responses = doc.paths["/users/{id}"].get.responses;
    expect(responses["200"].content["application/json"].schema).toMatchObject({
      properties: { code: { const: 0 }, data: { properties: { id: { type: "number" } } } },
    });
    expect(responses["422"]).toEqual({ $ref: "#/components/responses/ValidationFailed" });
    expect(responses["503"]).toEqual({ $ref: "#/components/responses/ServiceUnavailable" });
    expect(doc.components.responses.ValidationFailed.content).toEqual({
      "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } },
    });
    expect(doc.components.schemas.Problem.required).toContain("code");
  });

  it("moves recursive definitions into components and keeps them valid", async () => {
    const { gateway } = await setup({}, [catalog]);
    const doc = gateway.openapi() as Json;
    const body = doc.paths["/catalog/tree"].post.requestBody.content["application/json"].schema;
    expect(doc.paths["/catalog/tree"].post.tags).toEqual(["v2.catalog"]);
    const ref = body.properties.root.$ref as string;
    expect(ref).toMatch(/^#\/components\/schemas\/v2\.catalog\.tree\.params\./);
    const name = ref.split("/").pop() as string;
    expect(doc.components.schemas[name].properties.children.items.$ref).toBe(ref);
    expect((await validate(doc)).valid).toBe(true);
  });

  it("lists the bearer scheme of jwtAuth and marks unavailable routes", async () => {
    const { gateway } = await setup({
      authenticate: jwtAuth({ secret: "s".repeat(32) }),
      aliases: { "GET /later": "billing.invoices" },
    });
    const doc = gateway.openapi() as Json;
    expect(doc.components.securitySchemes).toEqual({
      bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
    });
    expect(doc.paths["/users/{id}"].get.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths["/later"].get["x-flotilla-available"]).toBe(false);
    expect((await validate(doc)).valid).toBe(true);
  });

  it("follows the cluster: a service that starts appears in the next document", async () => {
    const { broker, gateway } = await setup();
    expect(gateway.openapi().paths["/crash"]).toBeUndefined();
    broker.createService(faults);
    await broker.waitForServices("faults");
    const res = await gateway.app.inject({ url: "/openapi.json" });
    expect(res.json().paths["/crash"].get.operationId).toBe("faults.crash");
  });

  it("is judged by a validator that does reject broken documents", async () => {
    const { gateway } = await setup();
    const doc = structuredClone(gateway.openapi()) as Json;
    doc.paths["/users/{id}"].get.parameters[0].in = "body";
    expect((await validate(doc)).valid).toBe(false);
  });

  it("can be turned off", async () => {
    const { gateway } = await setup({ openapi: false });
    expect((await gateway.app.inject({ url: "/openapi.json" })).statusCode).toBe(404);
    expect((await gateway.app.inject({ url: "/docs" })).statusCode).toBe(404);
  });
});

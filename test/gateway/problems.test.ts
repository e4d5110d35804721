import { defineService, FlotillaError } from "flotilla";
import { describe, expect, it } from "vitest";
import { faults, setup, users } from "./fixtures.js";

const PROBLEM = "application/problem+json; charset=utf-8";

describe("gateway error answers", () => {
  it("answers invalid params with 422 and every issue with its path", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({
      method: "POST",
      url: "/users",
      headers: { "x-request-id": "req-123" },
      payload: { name: "", email: "nope", tags: ["ok", 5] },
    });
    expect(res.statusCode).toBe(422);
    expect(res.headers["content-type"]).toBe(PROBLEM);
    const problem = res.json();
    expect(problem).toMatchObject({
      type: "about:blank",
      title: "Unprocessable Entity",
      status: 422,
      code: "VALIDATION_ERROR",
      requestId: "req-123",
    });
    expect(problem.detail).toMatch(/Invalid params of 'users.create'/);
    expect(problem.errors.map((e: { pointer: string }) => e.pointer)).toEqual([
      "/name",
      "/email",
      "/tags/1",
    ]);
    expect(problem.errors[2]).toMatchObject({ path: ["tags", 1], message: expect.any(String) });
  });

  it("validates path values with the action's schema", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ url: "/users/abc" });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].path).toEqual(["id"]);
  });

  it("hides the insides of unexpected failures behind a generic 500", async () => {
    const { gateway } = await setup({}, [faults]);
    const res = await gateway.app.inject({ url: "/crash" });
    expect(res.statusCode).toBe(500);
    expect(res.headers["content-type"]).toBe(PROBLEM);
    const problem = res.json();
    expect(problem).toMatchObject({
      status: 500,
      code: "INTERNAL_ERROR",
      title: "Internal Server Error",
    });
    expect(res.body).not.toMatch(/hunter2|stack|at /);
    expect(problem.requestId).toBe(res.headers["x-request-id"]);
  });

  it("answers 504 when the action does not answer in time", async () => {
    const { gateway } = await setup({ actions: { "faults.slow": { timeout: 20 } } }, [faults]);
    const res = await gateway.app.inject({ url: "/slow" });
    expect(res.statusCode).toBe(504);
    expect(res.json()).toMatchObject({ code: "REQUEST_TIMEOUT", title: "Gateway Timeout" });
  });

  it("keeps the status, code and data of errors thrown by actions", async () => {
    const stock = defineService({
      name: "stock",
      actions: {
        reserve: {
          rest: "POST /reserve",
          visibility: "published",
          handler: () => {
            throw new FlotillaError("Out of stock", "OUT_OF_STOCK", 409, { data: { sku: "A-1" } });
          },
        },
      },
    });
    const { gateway } = await setup({ problemTypeBase: "https://errors.example.com/" }, [stock]);
    const res = await gateway.app.inject({ method: "POST", url: "/reserve" });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({
      type: "https://errors.example.com/out-of-stock",
      title: "Conflict",
      code: "OUT_OF_STOCK",
      detail: "Out of stock",
      data: { sku: "A-1" },
    });
  });

  it.each([
    {
      what: "malformed JSON",
      headers: { "content-type": "application/json" },
      payload: "{nope",
      problem: { status: 400, code: "INVALID_BODY" },
    },
    {
      what: "a body that is not an object",
      payload: [1, 2],
      problem: { status: 400, code: "INVALID_BODY" },
    },
    {
      what: "a body over the limit",
      options: { bodyLimit: 64 },
      payload: { name: "x".repeat(100), email: "a@b.co" },
      problem: { status: 413, code: "PAYLOAD_TOO_LARGE", title: "Payload Too Large" },
    },
    {
      what: "an unsupported content type",
      headers: { "content-type": "application/xml" },
      payload: "<user/>",
      problem: { status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
    },
  ])(
    "answers $what with $problem.status $problem.code",
    async ({ options, headers, payload, problem }) => {
      const { gateway } = await setup(options);
      const res = await gateway.app.inject({ method: "POST", url: "/users", headers, payload });
      expect(res.statusCode).toBe(problem.status);
      expect(res.headers["content-type"]).toBe(PROBLEM);
      expect(res.json()).toMatchObject(problem);
    },
  );

  it("answers a bad percent-encoding in the path with 400", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ url: "/users/%E0%A4%A" });
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toBe(PROBLEM);
  });

  it.each([
    {
      what: "reuses a sane x-request-id as the call's requestID",
      sent: "abc-123",
      back: /^abc-123$/,
    },
    {
      what: "replaces an unsafe x-request-id with a fresh one",
      sent: "<script>",
      back: /^[0-9a-f-]{36}$/,
    },
  ])("$what and sends it back", async ({ sent, back }) => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({
      method: "POST",
      url: "/echo/1",
      headers: { "x-request-id": sent },
      payload: {},
    });
    expect(res.headers["x-request-id"]).toMatch(back);
    expect(res.json().requestID).toBe(res.headers["x-request-id"]);
  });

  it("answers unknown paths with a 404 problem carrying the request ID", async () => {
    const { gateway } = await setup({}, [users]);
    const res = await gateway.app.inject({ url: "/nowhere", headers: { "x-request-id": "r-9" } });
    expect(res.statusCode).toBe(404);
    expect(res.headers["x-request-id"]).toBe("r-9");
    expect(res.json()).toEqual({
      type: "about:blank",
      title: "Not Found",
      status: 404,
      code: "NOT_FOUND",
      detail: "No route for GET /nowhere.",
      requestId: "r-9",
    });
  });
});

import { describe, expect, it } from "vitest";
import { faults, setup, users } from "./fixtures.js";

describe("gateway routes", () => {
  it.each([
    {
      what: "routes a rest declaration to its action and answers JSON",
      request: { method: "GET", url: "/users/42" },
      status: 200,
      headers: { "content-type": "application/json; charset=utf-8" },
      json: { id: 42, name: "Ada" },
    },
    {
      what: "prefers a literal path segment over a parameter",
      request: { method: "GET", url: "/users/me" },
      status: 200,
      json: { me: null },
    },
    {
      what: "serves HEAD from GET routes",
      request: { method: "HEAD", url: "/users/1" },
      status: 200,
      body: "",
    },
    {
      what: "accepts urlencoded form bodies",
      request: {
        method: "POST",
        url: "/users",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        payload: "name=Ada&email=ada%40example.com",
      },
      status: 200,
      json: { id: 7, name: "Ada", email: "ada@example.com" },
    },
    {
      what: "answers 204 when the action returns nothing",
      request: { method: "DELETE", url: "/users/3" },
      status: 204,
      body: "",
    },
    {
      what: "only exposes published actions; others are 404",
      request: { method: "GET", url: "/internal" },
      status: 404,
      headers: { "content-type": "application/problem+json; charset=utf-8" },
      problem: { status: 404, code: "NOT_FOUND" },
    },
    {
      what: "answers 405 with Allow when the path exists for other methods",
      request: { method: "PATCH", url: "/users/1" },
      status: 405,
      headers: { allow: "GET, PUT, DELETE, HEAD" },
      problem: { code: "METHOD_NOT_ALLOWED" },
    },
  ] as const)("$what", async ({ request, status, ...expected }) => {
    const { gateway } = await setup();
    const res = await gateway.app.inject(request);
    expect(res.statusCode).toBe(status);
    if (expected.headers !== undefined) expect(res.headers).toMatchObject(expected.headers);
    if (expected.body !== undefined) expect(res.body).toBe(expected.body);
    if (expected.json !== undefined) expect(res.json()).toEqual(expected.json);
    if (expected.problem !== undefined) expect(res.json()).toMatchObject(expected.problem);
  });

  it("mounts routes under the prefix and ignores a trailing slash", async () => {
    const { gateway } = await setup({ prefix: "api/" });
    expect((await gateway.app.inject({ url: "/api/users/1/" })).statusCode).toBe(200);
    expect((await gateway.app.inject({ url: "/users/1" })).statusCode).toBe(404);
  });

  it("merges query, body and path params, the path winning, then the body", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({
      method: "POST",
      url: "/echo/7?id=1&q=a&x=query",
      payload: { id: 2, x: "body", y: true },
    });
    expect(res.json().params).toEqual({ id: "7", q: "a", x: "body", y: true });
  });

  it("lets the action's schema coerce and default query values", async () => {
    const { gateway } = await setup();
    expect((await gateway.app.inject({ url: "/users?limit=5&q=x" })).json()).toEqual({
      limit: 5,
      q: "x",
    });
    expect((await gateway.app.inject({ url: "/users" })).json()).toEqual({ limit: 10, q: null });
  });

  it("wraps results as { code: 0, data } when asked", async () => {
    const { gateway } = await setup({ wrapResponse: true });
    expect((await gateway.app.inject({ url: "/users/1" })).json()).toEqual({
      code: 0,
      data: { id: 1, name: "Ada" },
    });
    expect((await gateway.app.inject({ method: "DELETE", url: "/users/1" })).json()).toEqual({
      code: 0,
      data: null,
    });
  });

  it("routes aliases to any callable action, with their own settings", async () => {
    const { gateway } = await setup({
      aliases: {
        "POST /login": { action: "users.login", status: 201 },
        "GET /secret": "users.internal",
      },
    });
    const login = await gateway.app.inject({
      method: "POST",
      url: "/login",
      payload: { name: "ada" },
    });
    expect(login.statusCode).toBe(201);
    expect(login.json()).toEqual({ token: "t-ada" });
    expect((await gateway.app.inject({ url: "/secret" })).json()).toBe("secret");
  });

  it("adds routes of services that start later, without a restart", async () => {
    const { broker, gateway } = await setup({}, [users]);
    expect((await gateway.app.inject({ url: "/crash" })).statusCode).toBe(404);
    broker.createService(faults);
    await broker.waitForServices("faults");
    expect((await gateway.app.inject({ url: "/crash" })).statusCode).toBe(500);
    expect(gateway.routes().some((r) => r.action === "faults.crash" && r.available)).toBe(true);
  });

  it("answers 503 for an alias whose action is not in the cluster yet", async () => {
    const { gateway } = await setup({ aliases: { "GET /later": "billing.invoices" } });
    const res = await gateway.app.inject({ url: "/later" });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe("SERVICE_NOT_AVAILABLE");
  });

  it("lets users add their own Fastify routes before listening", async () => {
    const { gateway } = await setup();
    gateway.app.get("/healthz", async () => ({ ok: true }));
    expect((await gateway.app.inject({ url: "/healthz" })).json()).toEqual({ ok: true });
    expect((await gateway.app.inject({ url: "/users/1" })).statusCode).toBe(200);
  });

  it("rejects malformed aliases at creation", async () => {
    await expect(setup({ aliases: { "FETCH /x": "users.get" } })).rejects.toThrow(/method FETCH/);
  });
});

import { describe, expect, it } from "vitest";
import { faults, setup, users } from "./fixtures.js";

describe("gateway routes", () => {
  it("routes a rest declaration to its action and answers JSON", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ method: "GET", url: "/users/42" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.json()).toEqual({ id: 42, name: "Ada" });
  });

  it("prefers a literal path segment over a parameter", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ method: "GET", url: "/users/me" });
    expect(res.json()).toEqual({ me: null });
  });

  it("mounts routes under the prefix and ignores a trailing slash", async () => {
    const { gateway } = await setup({ prefix: "api/" });
    expect((await gateway.app.inject({ url: "/api/users/1/" })).statusCode).toBe(200);
    expect((await gateway.app.inject({ url: "/users/1" })).statusCode).toBe(404);
  });

  it("serves HEAD from GET routes", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ method: "HEAD", url: "/users/1" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe("");
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

  it("accepts urlencoded form bodies", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({
      method: "POST",
      url: "/users",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "name=Ada&email=ada%40example.com",
    });
    expect(res.json()).toEqual({ id: 7, name: "Ada", email: "ada@example.com" });
  });

  it("lets the action's schema coerce and default query values", async () => {
    const { gateway } = await setup();
    expect((await gateway.app.inject({ url: "/users?limit=5&q=x" })).json()).toEqual({
      limit: 5,
      q: "x",
    });
    expect((await gateway.app.inject({ url: "/users" })).json()).toEqual({ limit: 10, q: null });
  });

  it("answers 204 when the action returns nothing", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ method: "DELETE", url: "/users/3" });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe("");
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

  it("only exposes published actions; others are 404", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ url: "/internal" });
    expect(res.statusCode).toBe(404);
    expect(res.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    expect(res.json()).toMatchObject({ status: 404, code: "NOT_FOUND" });
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

  it("answers 405 with Allow when the path exists for other methods", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ method: "PATCH", url: "/users/1" });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe("GET, PUT, DELETE, HEAD");
    expect(res.json().code).toBe("METHOD_NOT_ALLOWED");
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

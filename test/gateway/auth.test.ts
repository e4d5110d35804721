import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyRequest } from "fastify";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { ForbiddenError, jwtAuth, UnauthorizedError } from "../../src/gateway/index.js";
import { onCleanup, setup } from "./fixtures.js";

const secret = "a-test-secret-that-is-long-enough!";
const sign = (claims: Record<string, unknown>, options: { exp?: string; iss?: string } = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setIssuer(options.iss ?? "shop")
    .setExpirationTime(options.exp ?? "5m")
    .sign(new TextEncoder().encode(secret));

describe("gateway authentication and authorization", () => {
  it("puts the authenticated user into ctx.meta.user", async () => {
    const { gateway } = await setup({
      authenticate: (req: FastifyRequest) => ({ name: String(req.headers["x-user"]) }),
    });
    const res = await gateway.app.inject({ url: "/users/me", headers: { "x-user": "ada" } });
    expect(res.json()).toEqual({ me: { name: "ada" } });
  });

  it("refuses with the error authenticate throws, and lets routes opt out", async () => {
    const { gateway } = await setup({
      authenticate: () => {
        throw new UnauthorizedError("Who are you?", { challenge: "Basic" });
      },
      actions: { "users.list": { authenticate: false } },
    });
    const refused = await gateway.app.inject({ url: "/users/me" });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers["www-authenticate"]).toBe("Basic");
    expect(refused.json()).toMatchObject({ code: "UNAUTHORIZED", detail: "Who are you?" });
    expect((await gateway.app.inject({ url: "/users" })).statusCode).toBe(200);
  });

  it("answers 403 when authorize says no to a known user, 401 to nobody", async () => {
    const { gateway } = await setup({
      authenticate: (req: FastifyRequest) =>
        req.headers["x-user"] === undefined ? undefined : { role: req.headers["x-user"] },
      actions: {
        "users.*": {
          authorize: (user, info) =>
            (user as { role?: string } | undefined)?.role === "admin" || info.params.id === "1",
        },
      },
    });
    expect(
      (await gateway.app.inject({ url: "/users/2", headers: { "x-user": "admin" } })).statusCode,
    ).toBe(200);
    expect(
      (await gateway.app.inject({ url: "/users/1", headers: { "x-user": "guest" } })).statusCode,
    ).toBe(200);
    const forbidden = await gateway.app.inject({ url: "/users/2", headers: { "x-user": "guest" } });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe("FORBIDDEN");
    expect((await gateway.app.inject({ url: "/users/2" })).statusCode).toBe(401);
  });

  it("passes on errors that authorize throws", async () => {
    const { gateway } = await setup({
      authorize: () => {
        throw new ForbiddenError("Shop is closed.");
      },
    });
    const res = await gateway.app.inject({ url: "/users/1" });
    expect(res.statusCode).toBe(403);
    expect(res.json().detail).toBe("Shop is closed.");
  });

  it("verifies JWT bearer tokens with a shared secret", async () => {
    const { gateway } = await setup({
      authenticate: jwtAuth({ secret, issuer: "shop", user: (claims) => ({ id: claims.sub }) }),
      aliases: { "POST /login": { action: "users.login", authenticate: false } },
    });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("u-1")
      .setIssuer("shop")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(secret));
    const ok = await gateway.app.inject({
      url: "/users/me",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ok.json()).toEqual({ me: { id: "u-1" } });

    const missing = await gateway.app.inject({ url: "/users/me" });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers["www-authenticate"]).toBe("Bearer");

    const expired = await gateway.app.inject({
      url: "/users/me",
      headers: { authorization: `Bearer ${await sign({}, { exp: "-1m" })}` },
    });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().detail).toBe("The token has expired.");
    expect(expired.headers["www-authenticate"]).toMatch(/^Bearer error="invalid_token"/);

    const wrongIssuer = await gateway.app.inject({
      url: "/users/me",
      headers: { authorization: `Bearer ${await sign({}, { iss: "evil" })}` },
    });
    expect(wrongIssuer.statusCode).toBe(401);
    const garbage = await gateway.app.inject({
      url: "/users/me",
      headers: { authorization: "Basic x" },
    });
    expect(garbage.statusCode).toBe(401);

    const login = await gateway.app.inject({
      method: "POST",
      url: "/login",
      payload: { name: "a" },
    });
    expect(login.statusCode).toBe(200);
  });

  it("lets anonymous requests through when the token is optional", async () => {
    const { gateway } = await setup({
      authenticate: jwtAuth({ secret, optional: true }),
      actions: { "users.get": { authorize: (user) => user !== undefined } },
    });
    expect((await gateway.app.inject({ url: "/users/me" })).json()).toEqual({ me: null });
    const refused = await gateway.app.inject({ url: "/users/1" });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers["www-authenticate"]).toBe("Bearer");
  });

  it("verifies tokens against a JWKS endpoint", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const server: Server = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;
    const { gateway } = await setup({
      authenticate: jwtAuth({ jwksUrl: `http://127.0.0.1:${port}/jwks.json`, audience: "api" }),
    });
    const token = await new SignJWT({ role: "admin" })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setAudience("api")
      .setExpirationTime("5m")
      .sign(privateKey);
    const res = await gateway.app.inject({
      url: "/users/me",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().me.role).toBe("admin");
  });

  it("answers 503 when the JWKS endpoint cannot be reached", async () => {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const { gateway } = await setup({
      authenticate: jwtAuth({ jwksUrl: `http://127.0.0.1:${port}/jwks` }),
    });
    const token = await sign({});
    const res = await gateway.app.inject({
      url: "/users/me",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(503);
  });
});

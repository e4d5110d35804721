import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AnyServiceDefinition, defineService, ServiceBroker } from "flotilla";
import { afterAll, afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
// Also exported by the gateway; both are the catalogue's classes.
import { ForbiddenError, UnauthorizedError } from "../../src/errors/index.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { jsonSerializer } from "../../src/serializers/json.js";
import type { ActionAuth } from "../../src/service/types.js";
import { decodePacket, encodePacket } from "../../src/transit/codec.js";
import { PacketType, type ResponsePacket } from "../../src/transit/packets.js";
import { Topics } from "../../src/transit/topics.js";
import { resolveTransporter } from "../../src/transporters/index.js";
import type { Transporter } from "../../src/transporters/transporter.js";
import { Probe } from "../transporters/helpers.js";

const admin = defineService({
  name: "admin",
  actions: {
    // Checked at the gateway only: services may call it freely.
    stats: {
      auth: { roles: ["admin", "ops"] },
      rest: "GET /stats",
      visibility: "published",
      handler: () => ({ users: 3 }),
    },
    // Checked on every call, wherever it comes from.
    purge: {
      params: z.object({ id: z.coerce.number() }),
      auth: { roles: ["admin"], scopes: ["users:write", "users:delete"], enforce: "always" },
      rest: "DELETE /users/:id",
      visibility: "published",
      fallback: () => "fallback must not hide a refusal",
      handler: (ctx) => ({ purged: ctx.params.id, by: (ctx.meta.user as { sub: string }).sub }),
    },
  },
});

/** A service that calls the guarded action on behalf of whoever called it. */
const cleanup = defineService({
  name: "cleanup",
  actions: {
    run: {
      rest: "POST /cleanup",
      visibility: "published",
      handler: (ctx) => ctx.call("admin.purge", { id: 1 }),
    },
  },
});

const brokers: ServiceBroker[] = [];
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.close();
  for (const b of brokers.splice(0).reverse()) await b.stop();
});

async function node(
  nodeID: string,
  services: AnyServiceDefinition[],
  transporter?: string,
): Promise<ServiceBroker> {
  const broker = new ServiceBroker({ nodeID, logger: false, transporter });
  for (const s of services) broker.createService(s);
  brokers.push(broker);
  await broker.start();
  return broker;
}

/** The `x-user` header names a user (JSON) as a verified token would: a stand-in for jwtAuth. */
async function gatewayOn(broker: ServiceBroker): Promise<Gateway> {
  const gateway = await createGateway(broker, {
    authenticate: (request) => {
      const header = request.headers["x-user"];
      return typeof header === "string" ? JSON.parse(header) : undefined;
    },
  });
  gateways.push(gateway);
  return gateway;
}

const as = (user: unknown) => ({ "x-user": JSON.stringify(user) });
const fullAdmin = { sub: "ada", roles: ["admin"], scope: "users:write users:delete" };

describe("roles and scopes at the gateway", () => {
  it("answers 401 without identity, 403 without the role, 200 with one of the roles", async () => {
    const gateway = await gatewayOn(await node("edge", [admin]));
    const anonymous = await gateway.app.inject({ url: "/stats" });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(anonymous.json()).toMatchObject({ code: "UNAUTHORIZED" });
    const guest = await gateway.app.inject({ url: "/stats", headers: as({ role: "guest" }) });
    expect(guest.statusCode).toBe(403);
    expect(guest.json()).toMatchObject({ code: "FORBIDDEN", data: { roles: ["admin", "ops"] } });
    const ops = await gateway.app.inject({ url: "/stats", headers: as({ role: "ops" }) });
    expect(ops.statusCode).toBe(200);
  });

  it("needs every scope, read from scope, scopes or scp", async () => {
    const gateway = await gatewayOn(await node("edge", [admin]));
    const del = (user: unknown) =>
      gateway.app.inject({ method: "DELETE", url: "/users/7", headers: as(user) });
    const partial = await del({ sub: "ada", roles: ["admin"], scope: "users:write" });
    expect(partial.statusCode).toBe(403);
    expect(partial.json().data).toEqual({ action: "admin.purge", scopes: ["users:delete"] });
    expect((await del(fullAdmin)).json()).toEqual({ purged: 7, by: "ada" });
    expect(
      (await del({ sub: "b", role: "admin", scp: ["users:write", "users:delete"] })).statusCode,
    ).toBe(200);
    expect(
      (await del({ sub: "c", role: "ops", scopes: ["users:write", "users:delete"] })).statusCode,
    ).toBe(403);
  });

  it("cannot be talked into an identity by the HTTP request: body, query and headers are not meta", async () => {
    const gateway = await gatewayOn(await node("edge", [admin]));
    const forged = await gateway.app.inject({
      method: "DELETE",
      url: `/users/7?user=${encodeURIComponent(JSON.stringify(fullAdmin))}`,
      headers: { "content-type": "application/json", meta: JSON.stringify({ user: fullAdmin }) },
      payload: { user: fullAdmin, meta: { user: fullAdmin } },
    });
    expect(forged.statusCode).toBe(401);
  });

  it("enforces what a remote action declares, from the catalog", async () => {
    const bus = `memory://authz-${process.pid}-${Date.now()}`;
    await node("worker", [admin], bus);
    const edge = await node("edge", [], bus);
    await edge.waitForServices("admin", 5_000);
    const gateway = await gatewayOn(edge);
    expect((await gateway.app.inject({ url: "/stats" })).statusCode).toBe(401);
    expect(
      (await gateway.app.inject({ url: "/stats", headers: as({ role: "x" }) })).statusCode,
    ).toBe(403);
    expect(
      (await gateway.app.inject({ url: "/stats", headers: as({ role: "admin" }) })).json(),
    ).toEqual({ users: 3 });
    expect(JSON.stringify(gateway.openapi().paths["/stats"])).toContain('"403"');
  });
});

describe('enforce: "always": the action checks the caller itself', () => {
  it("refuses a direct call without identity (401) or without the role (403), fallback or not", async () => {
    const broker = await node("n1", [admin]);
    await expect(broker.call("admin.purge", { id: 1 })).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(
      broker.call("admin.purge", { id: 1 }, { meta: { user: { sub: "x", role: "guest" } } }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await expect(
      broker.call("admin.purge", { id: 1 }, { meta: { user: fullAdmin } }),
    ).resolves.toEqual({
      purged: 1,
      by: "ada",
    });
    // Refused before validation: a stranger learns nothing about the params.
    await expect(broker.call("admin.purge", { id: "x" })).rejects.toMatchObject({
      code: "UNAUTHORIZED",
    });
    // Checked at the gateway only: a service may call it without identity.
    await expect(broker.call("admin.stats")).resolves.toEqual({ users: 3 });
  });

  it("follows the identity down the call chain: a service cannot lend its caller a role", async () => {
    const broker = await node("n1", [admin, cleanup]);
    const gateway = await gatewayOn(broker);
    const run = (user: unknown) =>
      gateway.app.inject({ method: "POST", url: "/cleanup", headers: as(user), payload: {} });
    expect((await run({ sub: "eve", role: "guest" })).statusCode).toBe(403);
    expect(
      (await gateway.app.inject({ method: "POST", url: "/cleanup", payload: {} })).statusCode,
    ).toBe(401);
    expect((await run(fullAdmin)).json()).toEqual({ purged: 1, by: "ada" });
  });

  it("refuses a call from another node without identity, as the same error class", async () => {
    const bus = `memory://authz-${process.pid}-${Date.now()}`;
    await node("worker", [admin], bus);
    const caller = await node("caller", [], bus);
    await caller.waitForServices("admin", 5_000);
    await expect(caller.call("admin.purge", { id: 2 })).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(
      caller.call("admin.purge", { id: 2 }, { meta: { user: fullAdmin } }),
    ).resolves.toEqual({
      purged: 2,
      by: "ada",
    });
  });

  it("type-checks on defineService", () => {
    expectTypeOf<NonNullable<typeof admin.actions>["purge"]["auth"]>().toExtend<ActionAuth>();
    defineService({
      name: "typed",
      actions: {
        // @ts-expect-error roles is a list
        a: { auth: { roles: "admin" }, handler: () => 1 },
        // @ts-expect-error enforce is "gateway" or "always"
        b: { auth: { enforce: "sometimes" }, handler: () => 1 },
      },
    });
  });
});

const dir = mkdtempSync(join(tmpdir(), "flotilla-authz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A bare participant on the cluster's transporter that sends REQUEST packets of its own making,
 * as another node would, bypassing the caller-side registry that hides private and protected
 * actions: what the serving node answers is its own decision.
 */
async function rawCaller(url: string, namespace: string) {
  const transporter: Transporter = await resolveTransporter(url);
  const probe = new Probe("intruder", namespace);
  await transporter.connect(probe.context());
  const topics = new Topics(namespace);
  const serializer = jsonSerializer();
  await transporter.subscribe(topics.node("RES", "intruder"));
  let seq = 0;
  return {
    transporter,
    async call(nodeID: string, action: string): Promise<ResponsePacket> {
      const id = `r${++seq}`;
      const packet = encodePacket(serializer, PacketType.REQUEST, {
        sender: "intruder",
        id,
        action,
        params: {},
        meta: {},
        requestID: id,
        level: 1,
        timeout: 2_000,
      });
      await transporter.publish(topics.node("REQ", nodeID), packet);
      const resTopic = topics.node("RES", "intruder");
      let found: ResponsePacket | undefined;
      await probe.until(() => {
        for (const r of probe.received) {
          if (r.topic !== resTopic) continue;
          const p = decodePacket(serializer, r.data).body as ResponsePacket;
          if (p.id === id) found = p;
        }
        return found !== undefined;
      }, `an answer to ${action}`);
      return found!;
    },
  };
}

const vault = defineService({
  name: "vault",
  actions: {
    open: { handler: () => "open" },
    secret: { visibility: "private", handler: () => "private data" },
    local: { visibility: "protected", handler: () => "protected data" },
  },
});

describe.each([
  { name: "memory://", url: (ns: string) => `memory://${ns}` },
  { name: "tcp://", url: () => `tcp://?udp=false&host=127.0.0.1&dir=${encodeURIComponent(dir)}` },
])("private and protected actions over $name", ({ url }) => {
  it("are refused when another node calls them; public ones answer", async () => {
    const namespace = `vis${process.pid}${Date.now()}`;
    const target = new ServiceBroker({
      nodeID: "target",
      logger: false,
      namespace,
      transporter: url(namespace),
    });
    target.createService(vault);
    brokers.push(target);
    await target.start();
    const intruder = await rawCaller(url(namespace), namespace);
    try {
      const open = await intruder.call("target", "vault.open");
      expect(open).toMatchObject({ ok: true, data: "open" });
      for (const action of ["vault.secret", "vault.local"]) {
        const refused = await intruder.call("target", action);
        expect(refused.ok).toBe(false);
        expect(refused.error).toMatchObject({ code: "SERVICE_NOT_FOUND" });
        expect(JSON.stringify(refused)).not.toContain('data":"p');
      }
    } finally {
      await intruder.transporter.disconnect();
    }
  });
});

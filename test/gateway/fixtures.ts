import { type AnyServiceDefinition, defineService, type ServiceBroker } from "flotilla";
import { createTestBroker } from "flotilla/testing";
import { afterEach } from "vitest";
import { z } from "zod";
import { createGateway, type Gateway, type GatewayOptions } from "../../src/gateway/index.js";

/** A small users service: the routes most tests go through. */
export const users = defineService({
  name: "users",
  actions: {
    get: {
      params: z.object({ id: z.coerce.number().int().positive() }),
      result: z.object({ id: z.number(), name: z.string() }),
      rest: "GET /users/:id",
      visibility: "published",
      summary: "One user",
      handler: (ctx) => ({ id: ctx.params.id, name: "Ada" }),
    },
    me: {
      rest: "GET /users/me",
      visibility: "published",
      handler: (ctx) => ({ me: ctx.meta.user ?? null }),
    },
    list: {
      params: z.object({
        limit: z.coerce.number().int().max(100).default(10),
        q: z.string().optional(),
      }),
      rest: ["GET /users"],
      visibility: "published",
      handler: (ctx) => ({ limit: ctx.params.limit, q: ctx.params.q ?? null }),
    },
    create: {
      params: z.object({
        name: z.string().min(1),
        email: z.email(),
        tags: z.array(z.string()).optional(),
      }),
      rest: "POST /users",
      visibility: "published",
      handler: (ctx) => ({ id: 7, ...ctx.params }),
    },
    update: {
      params: z.object({ id: z.coerce.number(), name: z.string() }),
      rest: "PUT /users/:id",
      visibility: "published",
      handler: (ctx) => ctx.params,
    },
    remove: {
      params: z.object({ id: z.coerce.number() }),
      rest: "DELETE /users/:id",
      visibility: "published",
      handler: () => undefined,
    },
    echo: {
      rest: "POST /echo/:id",
      visibility: "published",
      handler: (ctx) => ({
        params: ctx.params,
        requestID: ctx.requestID,
        headers: ctx.headers ?? null,
      }),
    },
    internal: {
      rest: "GET /internal",
      handler: () => "secret",
    },
    login: {
      params: z.object({ name: z.string() }),
      handler: (ctx) => ({ token: `t-${ctx.params.name}` }),
    },
  },
});

/** Throws what tests ask for. */
export const faults = defineService({
  name: "faults",
  actions: {
    crash: {
      rest: "GET /crash",
      visibility: "published",
      handler: () => {
        throw new Error("database password is hunter2");
      },
    },
    slow: {
      rest: "GET /slow",
      visibility: "published",
      handler: () => new Promise(() => {}),
    },
  },
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A started broker with `services` and a gateway on it (not listening); both closed after the test. */
export async function setup(
  options: GatewayOptions = {},
  services: AnyServiceDefinition[] = [users],
): Promise<{ broker: ServiceBroker; gateway: Gateway }> {
  const broker = createTestBroker();
  for (const service of services) broker.createService(service);
  cleanups.push(() => broker.stop());
  await broker.start();
  const gateway = await createGateway(broker, options);
  cleanups.push(() => gateway.close());
  return { broker, gateway };
}

/** Registers a cleanup to run after the current test. */
export function onCleanup(cleanup: () => Promise<unknown>): void {
  cleanups.push(cleanup);
}

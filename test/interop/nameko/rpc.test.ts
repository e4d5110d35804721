import { randomBytes } from "node:crypto";
import amqplib from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  defineService,
  FlotillaError,
  NamekoRemoteError,
  namekoArgs,
  namekoBridge,
  ServiceBroker,
  ServiceNotFoundError,
} from "../../../src/index.js";
import { requireServer } from "../../harness/index.js";
import { AMQP_URL, deleteAll, Peer, rejection } from "./peer.js";

// Calls both ways between Flotilla and a nameko-conventions peer (peer.py, kombu) on the real
// RabbitMQ: params as kwargs, positional args, errors with their types, nameko's request errors,
// and the nameko.* context headers.

const suffix = randomBytes(4).toString("hex");
const GREETER = `greeter_${suffix}`;
const ORDERS = `orders_${suffix}`;
const GHOST = `ghost_${suffix}`;

const orders = defineService({
  name: ORDERS,
  actions: {
    place: {
      params: z.object({ item: z.string(), qty: z.number().int() }),
      async handler(ctx) {
        const greeting = await ctx.call(`${GREETER}.hello`, { name: ctx.params.item });
        return { item: ctx.params.item, qty: ctx.params.qty, greeting };
      },
    },
    fail: {
      handler(ctx) {
        throw new FlotillaError("Out of stock", "OUT_OF_STOCK", 409, { data: ctx.params });
      },
    },
    context: { handler: (ctx) => ctx.meta.nameko },
    hidden: { visibility: "protected", handler: () => "secret" },
  },
});

let peer: Peer;
let broker: ServiceBroker;

beforeAll(async () => {
  await requireServer("rabbitmq");
  peer = await Peer.start(suffix);
  broker = new ServiceBroker({ nodeID: `nameko-rpc-${suffix}`, logger: false });
  broker.createService(orders);
  namekoBridge(broker, { url: AMQP_URL, services: [GREETER, GHOST], timeout: 10_000 });
  await broker.start();
}, 30_000);

afterAll(async () => {
  await broker?.stop();
  await peer?.stop();
  await deleteAll([`rpc-${ORDERS}`, `rpc-${GREETER}`], []);
});

describe("Flotilla calls a nameko service", () => {
  it("passes params as kwargs and returns the result", async () => {
    await expect(broker.call(`${GREETER}.hello`, { name: "Ada" })).resolves.toBe("Hello, Ada!");
  });

  it("passes an array as positional args, and namekoArgs mixes both", async () => {
    await expect(broker.call(`${GREETER}.add`, [2, 3])).resolves.toBe(5);
    await expect(broker.call(`${GREETER}.add`, namekoArgs([2], { b: 40 }))).resolves.toBe(42);
  });

  it("turns a Python exception into a NamekoRemoteError with its type", async () => {
    const err = await rejection(broker.call(`${GREETER}.fail`, { text: "no tea" }));
    expect(err).toBeInstanceOf(NamekoRemoteError);
    expect(err).toMatchObject({ code: "NAMEKO_REMOTE_ERROR", message: "no tea", status: 500 });
    expect(err.data).toEqual({
      excType: "ValueError",
      excPath: "builtins.ValueError",
      excArgs: ["no tea"],
    });
  });

  it("reports nameko's MethodNotFound and IncorrectSignature with their types", async () => {
    const missing = await rejection(broker.call(`${GREETER}.nope`, {}));
    expect(missing).toMatchObject({ status: 404, data: { excType: "MethodNotFound" } });
    const wrong = await rejection(broker.call(`${GREETER}.hello`, { nom: "x" }));
    expect(wrong).toMatchObject({ status: 400, data: { excType: "IncorrectSignature" } });
  });

  it("fails at once with SERVICE_NOT_FOUND when no nameko service serves the name", async () => {
    const err = await rejection(broker.call(`${GHOST}.hello`, {}));
    expect(err).toBeInstanceOf(ServiceNotFoundError);
    expect(err.data).toMatchObject({ excType: "UnknownService", service: GHOST });
  });

  it("sends meta.nameko as nameko.* headers with a call ID stack", async () => {
    const context = await broker.call(
      `${GREETER}.whoami`,
      {},
      {
        meta: { nameko: { user_id: "u1", language: "en" } },
      },
    );
    expect(context).toMatchObject({ user_id: "u1", language: "en" });
    const stack = (context as { call_id_stack: string[] }).call_id_stack;
    expect(stack).toHaveLength(2);
    expect(stack[0]).toMatch(/^flotilla\.call\.[0-9a-f-]{36}$/);
    expect(stack[1]).toMatch(new RegExp(`^${GREETER}\\.whoami\\.`));
  });
});

describe("a nameko client calls a Flotilla service", () => {
  it("reaches the action with kwargs as params, and the action's own nameko calls carry the stack", async () => {
    const answer = await peer.send({
      cmd: "call",
      service: ORDERS,
      method: "place",
      kwargs: { item: "tea", qty: 2 },
    });
    expect(answer).toMatchObject({
      result: { item: "tea", qty: 2, greeting: "Hello, tea!" },
      error: null,
    });
    const [inner] = peer.seen(
      (l) =>
        l.seen === "rpc" &&
        l.method === "hello" &&
        JSON.stringify(l.context).includes(`${ORDERS}.place.`),
    );
    expect(inner, "greeter saw the nested call").toBeDefined();
    const stack = (inner!.context as { call_id_stack: string[] }).call_id_stack;
    expect(stack[0]).toMatch(/^standalone_rpc_proxy\.call\./);
    expect(stack[1]).toMatch(new RegExp(`^${ORDERS}\\.place\\.`));
  });

  it("gives the action nameko's context data in ctx.meta.nameko", async () => {
    const answer = await peer.send({
      cmd: "call",
      service: ORDERS,
      method: "context",
      context: { user_id: "u7", language: "fr" },
    });
    expect(answer.result).toMatchObject({ user_id: "u7", language: "fr" });
    const stack = (answer.result as { call_id_stack: string[] }).call_id_stack;
    expect(stack.at(-1)).toMatch(new RegExp(`^${ORDERS}\\.context\\.`));
  });

  it("sends a Flotilla error with its code as exc_type", async () => {
    const answer = await peer.send({
      cmd: "call",
      service: ORDERS,
      method: "fail",
      kwargs: { item: "tea" },
    });
    expect(answer.error).toEqual({
      exc_type: "OUT_OF_STOCK",
      exc_path: "flotilla.OUT_OF_STOCK",
      exc_args: ["Out of stock", { item: "tea" }],
      value: "Out of stock",
    });
    const invalid = await peer.send({
      cmd: "call",
      service: ORDERS,
      method: "place",
      kwargs: { item: "tea", qty: "x" },
    });
    expect(invalid.error).toMatchObject({ exc_type: "VALIDATION_ERROR" });
  });

  it("answers as nameko does to unknown methods, positional args and malformed bodies", async () => {
    const unknown = await peer.send({ cmd: "call", service: ORDERS, method: "nope" });
    expect(unknown.error).toMatchObject({
      exc_type: "MethodNotFound",
      exc_path: "nameko.exceptions.MethodNotFound",
      value: "nope",
    });
    const hidden = await peer.send({ cmd: "call", service: ORDERS, method: "hidden" });
    expect(hidden.error).toMatchObject({ exc_type: "MethodNotFound" });
    const positional = await peer.send({
      cmd: "call",
      service: ORDERS,
      method: "place",
      args: ["tea", 2],
    });
    expect(positional.error).toMatchObject({
      exc_type: "IncorrectSignature",
      exc_path: "nameko.exceptions.IncorrectSignature",
    });
    const garbage = await peer.send({
      cmd: "call",
      service: ORDERS,
      method: "place",
      raw: "{not json",
    });
    expect(garbage.error).toMatchObject({
      exc_type: "MalformedRequest",
      exc_path: "nameko.exceptions.MalformedRequest",
    });
    const shapeless = await peer.send({
      cmd: "call",
      service: ORDERS,
      method: "place",
      raw: '{"kwargs": {}}',
    });
    expect(shapeless.error).toMatchObject({
      exc_type: "MalformedRequest",
      value: "Message missing `args` or `kwargs`",
    });
    const pickled = await peer.send({
      cmd: "call",
      service: ORDERS,
      method: "place",
      raw: "x",
      content_type: "application/x-python-serialize",
    });
    expect(pickled.error).toMatchObject({ exc_type: "MalformedRequest" });
  });

  it("drops a request without reply_to and keeps serving", async () => {
    const connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createConfirmChannel();
    await new Promise<void>((resolve, reject) =>
      channel.publish(
        "nameko-rpc",
        `${ORDERS}.context`,
        Buffer.from('{"args":[],"kwargs":{}}'),
        { contentType: "application/json" },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    await connection.close();
    const answer = await peer.send({ cmd: "call", service: ORDERS, method: "context" });
    expect(answer.error).toBeNull();
    expect(broker.health().state).toBe("started");
  });
});

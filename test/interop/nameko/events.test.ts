import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Context,
  defineService,
  type NamekoBridge,
  namekoBridge,
  ServiceBroker,
} from "../../../src/index.js";
import { requireServer, until } from "../../harness/index.js";
import { AMQP_URL, deleteAll, Peer } from "./peer.js";

// Events both ways between Flotilla and a nameko-conventions peer (peer.py) with each handler
// type, on two Flotilla nodes that also talk Flotilla protocol to each other over RabbitMQ.

const suffix = randomBytes(4).toString("hex");
const GREETER = `greeter_${suffix}`;
const ORDERS = `orders_${suffix}`;
const GREETED = `${GREETER}.greeted`;

interface Seen {
  node: string;
  kind: string;
  n: number;
  meta: unknown;
}
const seen: Seen[] = [];

function handlers(node: string) {
  const record = (kind: string) => (ctx: Context) => {
    seen.push({ node, kind, n: ctx.params.n as number, meta: ctx.meta.nameko });
  };
  return [
    defineService({
      name: `pool_${suffix}`,
      events: { [GREETED]: { handler: record("balanced") } },
    }),
    defineService({
      name: `single_${suffix}`,
      events: { [GREETED]: { kind: "single", handler: record("single") } },
    }),
    defineService({
      name: `bcast_${suffix}`,
      events: { [GREETED]: { kind: "broadcast", handler: record("broadcast") } },
    }),
  ];
}

const orders = defineService({
  name: ORDERS,
  actions: {
    ship: {
      async handler(ctx) {
        await ctx.emit(`${ORDERS}.created`, { n: ctx.params.n });
        return "shipped";
      },
    },
  },
});

let peer: Peer;
const brokers: ServiceBroker[] = [];
const bridges: NamekoBridge[] = [];

beforeAll(async () => {
  await requireServer("rabbitmq");
  peer = await Peer.start(suffix);
  for (const node of ["a", "b"]) {
    const broker = new ServiceBroker({
      nodeID: `nameko-events-${node}-${suffix}`,
      namespace: `nameko-${suffix}`,
      transporter: AMQP_URL,
      logger: false,
    });
    for (const service of handlers(node)) broker.createService(service);
    if (node === "a") broker.createService(orders);
    bridges.push(namekoBridge(broker, { url: AMQP_URL, services: [GREETER] }));
    brokers.push(broker);
  }
  await Promise.all(brokers.map((b) => b.start()));
  await brokers[1]!.waitForServices(ORDERS, 10_000);
}, 30_000);

afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop()));
  await peer?.stop();
  const pool = `evt-${GREETER}-greeted--pool_${suffix}.handle_greeted`;
  const services = [ORDERS, `pool_${suffix}`, `single_${suffix}`, `bcast_${suffix}`];
  await deleteAll(
    [pool, `evt-${GREETER}-greeted`, ...services.map((s) => `rpc-${s}`)],
    [`${GREETER}.events`, `${ORDERS}.events`],
  );
});

describe("nameko events reach Flotilla handlers by kind", () => {
  it("declares the queues nameko's @event_handler of each handler type would", () => {
    const base = `evt-${GREETER}-greeted`;
    const queues = [...bridges[0]!.eventQueues].sort();
    expect(queues).toHaveLength(3);
    expect(queues[0]).toBe(base); // singleton: one queue for every handler
    expect(queues[1]).toMatch(
      new RegExp(`^${base}--bcast_${suffix}\\.handle_greeted-[0-9a-f]{32}$`),
    );
    expect(queues[2]).toBe(`${base}--pool_${suffix}.handle_greeted`);
    expect(bridges[1]!.eventQueues).toContain(queues[2]); // the pool is shared by both nodes
    expect(bridges[1]!.eventQueues).not.toContain(queues[1]); // each node has its broadcast queue
  });

  it("service pool: one node per event; singleton: one handler in all; broadcast: every node", async () => {
    for (let n = 1; n <= 4; n++) {
      await peer.send({
        cmd: "dispatch",
        source: GREETER,
        type: "greeted",
        data: { n },
        context: { user_id: "u9" },
      });
    }
    const count = (kind: string) => seen.filter((s) => s.kind === kind).length;
    await until(() => count("balanced") >= 4 && count("single") >= 4 && count("broadcast") >= 8, {
      timeout: 10_000,
      message: "every delivery of four events",
    });
    const numbers = (kind: string, node?: string) =>
      seen
        .filter((s) => s.kind === kind && (node === undefined || s.node === node))
        .map((s) => s.n)
        .sort();
    expect(numbers("balanced")).toEqual([1, 2, 3, 4]);
    expect(numbers("single")).toEqual([1, 2, 3, 4]);
    expect(numbers("broadcast", "a")).toEqual([1, 2, 3, 4]);
    expect(numbers("broadcast", "b")).toEqual([1, 2, 3, 4]);
    const meta = seen[0]?.meta as { user_id: string; call_id_stack: string[] };
    expect(meta.user_id).toBe("u9");
    expect(meta.call_id_stack.at(-1)).toMatch(/\.handle_greeted\./);
  });
});

describe("Flotilla events reach nameko handlers of each type", () => {
  it("from a service called over Flotilla protocol by another node", async () => {
    // node b calls orders on node a over the Flotilla transporter; orders emits to nameko
    for (let n = 1; n <= 4; n++) await brokers[1]!.call(`${ORDERS}.ship`, { n });
    const events = () => peer.seen((l) => l.seen === "event");
    await until(() => events().length >= 4 * 4, { timeout: 10_000, message: "16 deliveries" });
    const numbers = (where: (l: Record<string, unknown>) => boolean) =>
      events()
        .filter(where)
        .map((l) => (l.data as { n: number }).n)
        .sort();
    expect(numbers((l) => l.kind === "service_pool")).toEqual([1, 2, 3, 4]);
    expect(numbers((l) => l.kind === "singleton")).toEqual([1, 2, 3, 4]);
    expect(numbers((l) => l.instance === "b1")).toEqual([1, 2, 3, 4]);
    expect(numbers((l) => l.instance === "b2")).toEqual([1, 2, 3, 4]);
    const stack = (events()[0]!.context as { call_id_stack: string[] }).call_id_stack;
    expect(stack[0]).toMatch(new RegExp(`^${ORDERS}\\.ship\\.`));
  });
});

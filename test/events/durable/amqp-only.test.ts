import { defineService } from "flotilla";
import { describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/index.js";
import { AmqpTransporter, loadAmqplib } from "../../../src/transporters/amqp/index.js";
import { requireServer, SHARED, until } from "../../harness/index.js";
import { durableNodes, type Log, recorder } from "./kit.js";
import { deleteAmqpNamespace } from "./servers.js";

// Durable events through the public broker API on the RabbitMQ of this machine, beyond the
// shared suite (amqp.test.ts). Every test has a namespace of its own; after the file, every
// queue and exchange they declared is deleted.
await requireServer("rabbitmq");
const url = SHARED.rabbitmq.url;
/** The durable groups (stream -> groups) each namespace declared, to delete afterwards. */
const declared = new Map<string, Record<string, string[]>>();
const { node, namespace } = durableNodes(
  () => url,
  async (namespaces) => {
    for (const ns of namespaces) await deleteAmqpNamespace(url, ns, declared.get(ns) ?? {});
  },
);

/** A namespace whose durable groups (stream -> groups) are deleted after the file. */
function namespaceWith(tag: string, groups: Record<string, string[]>): string {
  const ns = namespace(tag);
  declared.set(ns, groups);
  return ns;
}

describe("durable events on amqp://", () => {
  it("rejects an emit RabbitMQ did not keep: no group queue is bound to the event", async () => {
    const ns = namespaceWith("refused", {});
    const emitter = node(ns);
    await emitter.start();
    await expect(emitter.emit("nobody.listens", { a: 1 }, { durable: true })).rejects.toMatchObject(
      {
        code: "DURABLE_PUBLISH_FAILED",
        retryable: true,
        message: expect.stringMatching(/no queue is bound/),
      },
    );
  });

  it("flotilla dlq list | show | replay work against RabbitMQ", async () => {
    const ns = namespaceWith("cli", { "refund.requested": ["refunds"] });
    let failing = true;
    const handled: (string | undefined)[] = [];
    const consumer = node(ns, [
      defineService({
        name: "refunds",
        events: {
          "refund.requested": {
            durable: true,
            maxRetries: 0,
            handler(ctx) {
              if (failing) throw new Error("bank offline");
              handled.push(ctx.messageID);
            },
          },
        },
      }),
    ]);
    await consumer.start();
    await consumer.emit("refund.requested", { refund: 3 }, { durable: true });
    await until(async () => (await consumer.deadLetters.list()).length > 0, {
      timeout: 10_000,
      message: "the dead letter",
    });
    const cli = async (...args: string[]) => {
      let out = "";
      const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
        out += String(chunk);
        return true;
      });
      try {
        const code = await main([...args, "-t", url, "-n", ns]);
        return { code, json: JSON.parse(out) as unknown };
      } finally {
        write.mockRestore();
      }
    };
    const listed = await cli("dlq", "list");
    expect(listed.code).toBe(0);
    expect(listed.json).toEqual([
      expect.objectContaining({
        event: "refund.requested",
        group: "refunds",
        message: "bank offline",
      }),
    ]);
    const id = (listed.json as { id: string }[])[0]!.id;
    const shown = await cli("dlq", "show", id);
    expect(shown.json).toMatchObject({ id, packet: { payload: { refund: 3 } } });

    failing = false;
    expect((await cli("dlq", "replay", id)).json).toEqual({ replayed: id });
    await until(() => handled.length === 1, { message: "the replayed delivery" });
    expect(handled).toEqual([id]);
    expect((await cli("dlq", "list")).json).toEqual([]);
  });

  it("resume consuming after a lost connection; publish fails fast while it is down", async () => {
    const ns = namespaceWith("reconnect", { "stock.changed": ["search"] });
    const log: Log = [];
    const transporter = new AmqpTransporter(await loadAmqplib(), {
      reconnectDelay: { min: 200, max: 200 },
    });
    const consumer = node(ns, [recorder("search", "stock.changed", log)], {
      transporter,
      heartbeatTimeout: 30_000,
    });
    const emitter = node(ns);
    await Promise.all([consumer.start(), emitter.start()]);
    await emitter.emit("stock.changed", { sku: 1 }, { durable: true });
    await until(() => log.length === 1, { message: "the first delivery" });

    // The socket dies under the node, as a network cut would.
    transporter.session?.socket?.destroy(new Error("cut"));
    await until(() => consumer.health().transporter?.connected === false, { message: "the loss" });
    const down = await consumer.emit("stock.changed", {}, { durable: true }).catch((e) => e);
    // Failed fast: refused while the connection is still down, not held until it came back.
    expect(consumer.health().transporter?.connected).toBe(false);
    expect(down).toMatchObject({ code: "DURABLE_PUBLISH_FAILED", retryable: true });

    await emitter.emit("stock.changed", { sku: 2 }, { durable: true });
    await until(() => consumer.health().transporter?.connected === true, {
      timeout: 10_000,
      message: "the reconnect",
    });
    const sku = (n: number) => log.filter((l) => (l.params as { sku?: number }).sku === n);
    await until(() => sku(2).length === 1, { message: "the delivery after the reconnect" });
    // An ack still in the socket's buffer at the cut is lost with it: sku 1 may come again, as
    // attempt 2 (at least once).
    expect(sku(1).map((l) => l.attempt)).toEqual(sku(1).length === 1 ? [1] : [1, 2]);
  });
});

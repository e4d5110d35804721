import { SpanKind } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { defineService, FlotillaError } from "flotilla";
import { beforeAll, describe, expect, it } from "vitest";
import { durableNodes } from "../events/durable/kit.js";
import {
  deleteAmqpNamespace,
  deleteNatsNamespaces,
  deleteRedisNamespaces,
} from "../events/durable/servers.js";
import { requireServer, SHARED, type SharedServer, until } from "../harness/index.js";
import { idOf, memorySdk, parentOf, spanNamed } from "./memory-sdk.js";

// The trace context crosses every transporter: in call packets, in event packets, and in the
// durable streams (where a retry is a new delivery of the same message, in the same trace).
const exporter = memorySdk();

const TARGETS: {
  name: string;
  server?: SharedServer;
  url: string;
  cleanup?: (ns: readonly string[]) => Promise<void>;
}[] = [
  { name: "memory", url: "memory://" },
  { name: "tcp", url: "tcp://" },
  { name: "nats", server: "nats", url: SHARED.nats.url, cleanup: deleteNatsNamespaces },
  {
    name: "amqp",
    server: "rabbitmq",
    url: SHARED.rabbitmq.url,
    cleanup: async (namespaces) => {
      for (const ns of namespaces)
        await deleteAmqpNamespace(SHARED.rabbitmq.url, ns, { "stock.reserved": ["ledger"] });
    },
  },
  { name: "redis", server: "redis", url: SHARED.redis.url, cleanup: deleteRedisNamespaces },
];

const ofTrace = (traceId: string) =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);

for (const target of TARGETS) {
  describe(`trace context on ${target.name}`, () => {
    if (target.server !== undefined) beforeAll(() => requireServer(target.server!));
    const { node, namespace } = durableNodes(
      () => (target.name === "memory" ? `memory://${Math.random()}` : target.url),
      target.cleanup,
    );

    it("one trace through a remote call and a durable event whose first attempt fails; the retry is a span event", async () => {
      const ns = namespace("trace");
      const attempts: number[] = [];
      const stock = defineService({
        name: "stock",
        actions: {
          reserve: {
            async handler(ctx) {
              await ctx.emit("stock.reserved", { sku: "a" });
              return "ok";
            },
          },
        },
      });
      const ledger = defineService({
        name: "ledger",
        events: {
          "stock.reserved": {
            durable: true,
            maxRetries: 2,
            backoff: { delay: 5, maxDelay: 5, factor: 1 },
            handler(ctx) {
              attempts.push(ctx.attempt ?? 0);
              if (attempts.length === 1)
                throw new FlotillaError("ledger locked", "LEDGER_LOCKED", 503);
            },
          },
        },
      });
      const url = target.name === "memory" ? `memory://${ns}` : target.url;
      const server = node(ns, [stock], { transporter: url });
      const consumer = node(ns, [ledger], { transporter: url });
      const caller = node(ns, [], { transporter: url });
      await Promise.all([server.start(), consumer.start(), caller.start()]);
      await caller.waitForServices(["stock", "ledger"]);
      await expect(caller.call("stock.reserve")).resolves.toBe("ok");
      const root = () =>
        exporter
          .getFinishedSpans()
          .find((s) => s.name === "stock/reserve" && s.kind === SpanKind.CLIENT);
      await until(() => root() !== undefined && attempts.length === 2, {
        message: "the retried delivery",
      });
      const traceId = root()!.spanContext().traceId;
      await until(
        () => ofTrace(traceId).filter((s) => s.name === "process stock.reserved").length === 2,
        {
          message: "both attempts' spans",
        },
      );
      const spans = ofTrace(traceId);
      const reserve = spanNamed(spans, "stock/reserve", SpanKind.SERVER);
      const send = spanNamed(spans, "send stock.reserved", SpanKind.PRODUCER);
      expect(parentOf(reserve)).toBe(idOf(root()!));
      expect(parentOf(send)).toBe(idOf(reserve));
      const processed = spans
        .filter((s) => s.name === "process stock.reserved")
        .sort(
          (a, b) =>
            Number(a.attributes["flotilla.attempt"]) - Number(b.attributes["flotilla.attempt"]),
        );
      expect(processed.map((s) => s.attributes["flotilla.attempt"])).toEqual([1, 2]);
      for (const span of processed) expect(parentOf(span)).toBe(idOf(send));
      const [first, second] = processed as [ReadableSpan, ReadableSpan];
      expect(first.attributes["error.type"]).toBe("LEDGER_LOCKED");
      expect(first.events.map((e) => e.name)).toEqual(["exception", "flotilla.retry"]);
      expect(second.events).toEqual([]);
      expect(first.attributes["messaging.message.id"]).toBe(
        second.attributes["messaging.message.id"],
      );
    });
  });
}

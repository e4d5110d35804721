import { SpanKind } from "@opentelemetry/api";
import { DEFAULT_REDACT, defineService, ServiceBroker } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../harness/index.js";
import { memorySdk, spanNamed } from "./memory-sdk.js";

const exporter = memorySdk();
const brokers: ServiceBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

/** A node whose JSON log lines are collected, parsed. */
async function logged(
  redact?: readonly string[] | false,
): Promise<{ broker: ServiceBroker; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const broker = new ServiceBroker({
    nodeID: `logs-${Math.random().toString(36).slice(2, 8)}`,
    logger: {
      level: "info",
      redact,
      destination: { write: (line: string) => lines.push(JSON.parse(line)) },
    },
  });
  broker.createService(
    defineService({
      name: "billing",
      actions: {
        charge: {
          handler(ctx) {
            ctx.logger.info(
              { card: { number: "4111", token: "tok_live" }, password: "hunter2" },
              "charging",
            );
            return ctx.emit("billing.charged", {});
          },
        },
      },
      events: {
        "billing.charged": {
          handler(ctx) {
            ctx.logger.info({ headers: { authorization: "Bearer abc", cookie: "s=1" } }, "charged");
          },
        },
      },
    }),
  );
  brokers.push(broker);
  await broker.start();
  return { broker, lines };
}

describe("log lines of handlers", () => {
  it("carry the trace and span IDs the exporter saw, the request ID, node, service and action or event", async () => {
    const { broker, lines } = await logged();
    await broker.call("billing.charge", {}, { requestID: "req-42" });
    await until(() => lines.some((l) => l.msg === "charged"), { message: "the event's log line" });
    const spans = exporter.getFinishedSpans();
    const action = spanNamed(spans, "billing/charge", SpanKind.SERVER);
    const event = spanNamed(spans, "process billing.charged", SpanKind.CONSUMER);
    const charging = lines.find((l) => l.msg === "charging")!;
    const charged = lines.find((l) => l.msg === "charged")!;
    expect(charging).toMatchObject({
      node: broker.nodeID,
      service: "billing",
      action: "billing.charge",
      requestID: "req-42",
      trace_id: action.spanContext().traceId,
      span_id: action.spanContext().spanId,
    });
    expect(charged).toMatchObject({
      node: broker.nodeID,
      service: "billing",
      event: "billing.charged",
      requestID: "req-42",
      trace_id: action.spanContext().traceId,
      span_id: event.spanContext().spanId,
    });
  });

  it("redact passwords, tokens, cookies and authorization headers by default", async () => {
    const { broker, lines } = await logged();
    await broker.call("billing.charge", {});
    await until(() => lines.some((l) => l.msg === "charged"), { message: "the event's log line" });
    const text = JSON.stringify(lines);
    for (const secret of ["hunter2", "tok_live", "Bearer abc", "s=1"])
      expect(text).not.toContain(secret);
    expect(lines.find((l) => l.msg === "charging")).toMatchObject({
      password: "[redacted]",
      card: { number: "4111", token: "[redacted]" },
    });
  });

  it("redact what the application lists, or nothing with redact: false", async () => {
    const custom = await logged([...DEFAULT_REDACT, "card.number"]);
    await custom.broker.call("billing.charge", {});
    expect(custom.lines.find((l) => l.msg === "charging")).toMatchObject({
      card: { number: "[redacted]", token: "[redacted]" },
    });
    const open = await logged(false);
    await open.broker.call("billing.charge", {});
    expect(open.lines.find((l) => l.msg === "charging")).toMatchObject({ password: "hunter2" });
  });
});

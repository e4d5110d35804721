// The consuming side of the data benchmark, in a process of its own: one broker node per
// (database, message broker) pair, each with a durable `bench.created` handler that notes when
// each event reached it (wall clock, sub-millisecond). The parent (run.ts) talks to it over IPC:
//   → { type: "start", pairs: [{ namespace, transporter }] }    ← { type: "ready" }
//   → { type: "collect", req, namespace, from, to }             ← { type: "collected", req, received, nonDurable }
//   → { type: "stop" }                                          ← { type: "stopped" }
// `collect` hands over (and forgets) the arrival times of event IDs in [from, to).
import { defineService, ServiceBroker } from "flotilla";

/** Wall-clock time in ms with sub-ms precision, comparable between processes of one machine. */
const now = () => performance.timeOrigin + performance.now();

export type ToSink =
  | { type: "start"; pairs: { namespace: string; transporter: string }[] }
  | { type: "collect"; req: number; namespace: string; from: number; to: number }
  | { type: "stop" };

export type FromSink =
  | { type: "ready" }
  | {
      type: "collected";
      req: number;
      /** [event ID, arrival time] */
      received: [number, number][];
      /** Deliveries without a message ID (not durable): should stay 0. */
      nonDurable: number;
    }
  | { type: "stopped" };

/** Handler concurrency of the durable consumer (as in bench/durable-events). */
export const SINK_CONCURRENCY = 100;

interface Sink {
  broker: ServiceBroker;
  arrived: Map<number, number>;
  nonDurable: number;
}

const sinks = new Map<string, Sink>();
const send = (msg: FromSink) => process.send?.(msg);

async function start(pairs: { namespace: string; transporter: string }[]): Promise<void> {
  for (const { namespace, transporter } of pairs) {
    const sink: Sink = {
      broker: new ServiceBroker({
        namespace,
        nodeID: `sink-${process.pid}`,
        logger: false,
        transporter,
      }),
      arrived: new Map(),
      nonDurable: 0,
    };
    sink.broker.createService(
      defineService({
        name: "sink",
        events: {
          "bench.created": {
            durable: true,
            concurrency: SINK_CONCURRENCY,
            handler(ctx) {
              const at = now();
              const id = (ctx.params as { id: number }).id;
              // First arrival counts (a redelivery after a lost ack would be later anyway).
              if (!sink.arrived.has(id)) sink.arrived.set(id, at);
              if (ctx.messageID === undefined) sink.nonDurable++;
            },
          },
        },
      }),
    );
    await sink.broker.start();
    sinks.set(namespace, sink);
  }
}

process.on("message", (msg: ToSink) => {
  if (msg.type === "start") {
    start(msg.pairs).then(
      () => send({ type: "ready" }),
      (err: unknown) => {
        console.error("sink failed to start", err);
        process.exit(1);
      },
    );
  } else if (msg.type === "collect") {
    const sink = sinks.get(msg.namespace);
    const received: [number, number][] = [];
    if (sink !== undefined) {
      for (const [id, at] of sink.arrived) {
        if (id >= msg.from && id < msg.to) {
          received.push([id, at]);
          sink.arrived.delete(id);
        }
      }
    }
    send({ type: "collected", req: msg.req, received, nonDurable: sink?.nonDurable ?? 0 });
  } else if (msg.type === "stop") {
    Promise.allSettled([...sinks.values()].map((s) => s.broker.stop())).then(() => {
      send({ type: "stopped" });
      process.disconnect?.();
    });
  }
});
// Exit normally on SIGINT so profilers (--cpu-prof) can write their output.
process.on("SIGINT", () => process.exit(0));
process.on("disconnect", () => process.exit(0));

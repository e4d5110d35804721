// The floor: each transport's plain client doing request/reply with a correlation id, nothing
// else (no discovery, no envelope beyond id, method and params, no timeouts, no retries).
//   tcp    node:net, one frame each way per call (see raw-tcp.ts)
//   nats   @nats-io/transport-node: one publish each way per call, to the namespace's request
//          subject and to the client's reply subject; `{ id, reply, method, params }` in the body
//   redis  ioredis pub/sub the same way (a pub and a sub connection per side)
//   amqp   amqplib: one sendToQueue each way per call, to the namespace's queue and back through
//          RabbitMQ's direct reply-to; the correlation id in the message properties; noDelay on
// Bodies are JSON, or MessagePack through msgpackr for codec "msgpack".
import type { BenchClient, Contender, Endpoint } from "../contract.js";
import { serveTcp, tcpClient } from "./raw-tcp.js";
import {
  ADD_PARAMS,
  BROKER_URLS,
  PendingCalls,
  type RawReply,
  randomSuffix,
  rawReply,
  wireCodec,
} from "./shared.js";

type Call = (method: string, params: unknown) => Promise<unknown>;

/** Publish/subscribe on NATS or Redis: all the raw floor needs of either. */
interface Bus {
  publish(subject: string, body: Uint8Array): void;
  /** Calls `onMessage` with every body published to `subject`; resolves once subscribed. */
  subscribe(subject: string, onMessage: (body: Uint8Array) => void): Promise<void>;
  close(): Promise<void>;
}

async function natsBus(): Promise<Bus> {
  const { connect } = await import("@nats-io/transport-node");
  const nc = await connect({ servers: "127.0.0.1:4222" });
  return {
    publish: (subject, body) => nc.publish(subject, body),
    subscribe: async (subject, onMessage) => {
      nc.subscribe(subject, { callback: (_err, msg) => onMessage(msg.data) });
      await nc.flush(); // the server has the subscription once its PONG is back
    },
    close: () => nc.drain(),
  };
}

async function redisBus(): Promise<Bus> {
  const { Redis } = await import("ioredis");
  const pub = new Redis(6379, "127.0.0.1");
  const sub = new Redis(6379, "127.0.0.1");
  return {
    publish: (channel, body) => void pub.publish(channel, Buffer.from(body)),
    subscribe: async (channel, onMessage) => {
      sub.on("messageBuffer", (from: Buffer, body: Buffer) => {
        if (from.toString() === channel) onMessage(body);
      });
      await sub.subscribe(channel);
    },
    close: async () => {
      await Promise.all([pub.quit(), sub.quit()]);
    },
  };
}

interface BusRequest {
  id: number;
  reply: string;
  method: string;
  params: unknown;
}

const requestSubject = (at: Endpoint) => `${at.namespace}.req`;

async function serveBus(at: Endpoint, bus: Bus) {
  const wire = await wireCodec(at.codec);
  await bus.subscribe(requestSubject(at), (body) => {
    const req = wire.decode(body) as BusRequest;
    bus.publish(req.reply, wire.encode({ id: req.id, ...rawReply(req.method, req.params) }));
  });
  return { close: () => bus.close() };
}

async function busClient(at: Endpoint, bus: Bus): Promise<{ call: Call; close(): Promise<void> }> {
  const wire = await wireCodec(at.codec);
  const pending = new PendingCalls<number>();
  const reply = `${at.namespace}.reply.${randomSuffix()}`;
  await bus.subscribe(reply, (body) => {
    const res = wire.decode(body) as RawReply & { id: number };
    pending.settle(res.id, res);
  });
  let nextId = 0;
  return {
    call: (method, params) => {
      const id = nextId++;
      bus.publish(requestSubject(at), wire.encode({ id, reply, method, params }));
      return pending.wait(id);
    },
    close: () => bus.close(),
  };
}

// RabbitMQ's pseudo-queue for replies: no queue to declare, replies go straight to the consumer.
const REPLY_TO = "amq.rabbitmq.reply-to";

async function amqpConnect() {
  const amqplib = await import("amqplib");
  // noDelay: with Nagle on, a request/reply round trip waits for delayed ACKs (~40 ms each).
  return amqplib.connect(BROKER_URLS.amqp, { noDelay: true });
}

async function serveAmqp(at: Endpoint) {
  const wire = await wireCodec(at.codec);
  const conn = await amqpConnect();
  const ch = await conn.createChannel();
  // Exclusive and auto-deleted: the queue goes away with the server's connection.
  await ch.assertQueue(at.namespace, { exclusive: true, autoDelete: true, durable: false });
  await ch.consume(
    at.namespace,
    (msg) => {
      if (msg === null) return;
      const req = wire.decode(msg.content) as { method: string; params: unknown };
      const { replyTo, correlationId } = msg.properties;
      ch.sendToQueue(replyTo, wire.encode(rawReply(req.method, req.params)), { correlationId });
    },
    { noAck: true },
  );
  return { close: () => conn.close() };
}

async function amqpClient(at: Endpoint): Promise<{ call: Call; close(): Promise<void> }> {
  const wire = await wireCodec(at.codec);
  const conn = await amqpConnect();
  const ch = await conn.createChannel();
  const pending = new PendingCalls<string>();
  await ch.consume(
    REPLY_TO,
    (msg) => {
      const id = msg?.properties.correlationId as string | undefined;
      if (msg === null || id === undefined) return;
      pending.settle(id, wire.decode(msg.content) as RawReply);
    },
    { noAck: true },
  );
  let nextId = 0;
  return {
    call: (method, params) => {
      const correlationId = (nextId++).toString(36);
      ch.sendToQueue(at.namespace, wire.encode({ method, params }), {
        replyTo: REPLY_TO,
        correlationId,
      });
      return pending.wait(correlationId);
    },
    close: () => conn.close(),
  };
}

export const raw: Contender = {
  kind: "raw",
  supports: () => true,
  serve: async (at) => {
    switch (at.transport) {
      case "tcp":
        return serveTcp(at);
      case "nats":
        return serveBus(at, await natsBus());
      case "redis":
        return serveBus(at, await redisBus());
      case "amqp":
        return serveAmqp(at);
    }
  },
  client: async (at): Promise<BenchClient> => {
    const { call, close } = await (at.transport === "tcp"
      ? tcpClient(at)
      : at.transport === "amqp"
        ? amqpClient(at)
        : busClient(at, at.transport === "nats" ? await natsBus() : await redisBus()));
    return {
      add: () => call("math.add", ADD_PARAMS),
      echo: (payload) => call("bench.echo", payload),
      close,
    };
  },
};

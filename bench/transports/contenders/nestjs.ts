// NestJS 12 microservices: a microservice app with one controller of two @MessagePattern
// handlers on the server side, a `ClientProxy` on the calling side; Nest's defaults otherwise.
// Per call: `client.send(pattern, data)` → `{ pattern, data, id }` as JSON out, `{ id, response,
// isDisposed }` back, through Nest's handler pipeline (guards, interceptors, pipes: none set,
// still traversed) and rxjs on both sides.
//   tcp    Transport.TCP on 127.0.0.1:<port>: one socket, length-prefixed JSON frames
//   nats   Transport.NATS: a publish to the pattern's subject with a reply inbox, one back
//   redis  Transport.REDIS: a publish to the pattern's channel, the answer on `<pattern>.reply`;
//          Nest's client subscribes to that channel while a call on it is pending, so with
//          one call in flight it subscribes and unsubscribes around every call
//   amqp   Transport.RMQ: a sendToQueue to the namespace's queue, the answer through direct
//          reply-to (amq.rabbitmq.reply-to, which needs noAck: Nest's default)
// JSON only: Nest's serializers produce the JSON text its transports parse, so `supports`
// answers false for MessagePack (a custom serializer would be our code, not Nest's).
import type {
  ClientProxy,
  NatsOptions,
  RedisOptions,
  RmqOptions,
  TcpClientOptions,
} from "@nestjs/microservices";
import type { BenchClient, Contender, Endpoint } from "../contract.js";
import { ADD_PARAMS, BROKER_URLS } from "./shared.js";

/**
 * The pattern of an operation. On NATS and Redis the pattern is the subject/channel itself, so
 * it carries the namespace there to keep pairs apart; on tcp (own port) and RabbitMQ (own queue)
 * the pair is apart already.
 */
const patternOf = (at: Endpoint, operation: string) =>
  at.transport === "nats" || at.transport === "redis" ? `${at.namespace}.${operation}` : operation;

/** Transport and options, the same for the server and the client of a pair. */
async function transportOf(
  at: Endpoint,
): Promise<TcpClientOptions | NatsOptions | RedisOptions | RmqOptions> {
  const { Transport } = await import("@nestjs/microservices");
  switch (at.transport) {
    case "tcp":
      return { transport: Transport.TCP, options: { host: "127.0.0.1", port: at.port } };
    case "nats":
      return { transport: Transport.NATS, options: { servers: [BROKER_URLS.nats] } };
    case "redis":
      return { transport: Transport.REDIS, options: { host: "127.0.0.1", port: 6379 } };
    case "amqp":
      return {
        transport: Transport.RMQ,
        options: {
          urls: [BROKER_URLS.amqp],
          queue: at.namespace,
          // autoDelete: cleanup only, the queue goes with its consumer (both sides must agree).
          queueOptions: { durable: false, autoDelete: true },
          noAck: true,
          // Tuned as Moleculer's row: amqplib leaves Nagle's algorithm on by default, which
          // makes each round trip wait for a delayed ACK (~40 ms); noDelay sends at once.
          socketOptions: { connectionOptions: { noDelay: true } },
        },
      };
  }
}

async function serveNest(at: Endpoint): Promise<{ close(): Promise<void> }> {
  await import("reflect-metadata");
  const { Controller, Module } = await import("@nestjs/common");
  const { NestFactory } = await import("@nestjs/core");
  const { MessagePattern } = await import("@nestjs/microservices");

  class BenchController {
    add(params: { a: number; b: number }) {
      return params.a + params.b;
    }
    echo(params: unknown) {
      return params;
    }
  }
  // Decorators applied as functions: tsx does not emit decorator metadata for the syntax.
  Controller()(BenchController);
  for (const [method, operation] of [
    ["add", "math.add"],
    ["echo", "bench.echo"],
  ] as const) {
    const descriptor = Object.getOwnPropertyDescriptor(BenchController.prototype, method);
    if (descriptor === undefined) throw new Error(`no method ${method}`);
    MessagePattern(patternOf(at, operation))(BenchController.prototype, method, descriptor);
  }
  class AppModule {}
  Module({ controllers: [BenchController] })(AppModule);

  const app = await NestFactory.createMicroservice(AppModule, {
    ...(await transportOf(at)),
    logger: false,
  });
  await app.listen();
  return { close: () => app.close() };
}

async function nestClient(at: Endpoint): Promise<BenchClient> {
  const { Logger } = await import("@nestjs/common");
  const { ClientProxyFactory } = await import("@nestjs/microservices");
  const { firstValueFrom, timeout } = await import("rxjs");
  // Nest's clients log through the global logger (to stdout), where the runner reads our line.
  Logger.overrideLogger(false);
  const client: ClientProxy = ClientProxyFactory.create(await transportOf(at));
  await client.connect();
  const add = patternOf(at, "math.add");
  const echo = patternOf(at, "bench.echo");
  // Nest's servers subscribe without waiting for the broker to confirm (NATS, Redis), and a
  // request published before that is lost: a first call that gets its answer proves the way.
  for (let attempt = 1; ; attempt++) {
    try {
      await firstValueFrom(client.send(add, ADD_PARAMS).pipe(timeout(1_000)));
      break;
    } catch (err) {
      if (attempt === 10) throw err;
    }
  }
  return {
    add: () => firstValueFrom(client.send(add, ADD_PARAMS)),
    echo: (payload) => firstValueFrom(client.send(echo, payload)),
    close: () => client.close(),
  };
}

export const nestjs: Contender = {
  kind: "nestjs",
  supports: (_transport, codec) => codec === "json",
  serve: serveNest,
  client: nestClient,
};

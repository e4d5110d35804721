// What every contender shares: the two operations the servers answer, the params of the measured
// call, the broker URLs, and the byte codecs the raw clients put on the wire.
import type { BenchClient, Codec, Contender, Endpoint, Kind, Transport } from "../contract.js";

/** The params of every measured `math.add` call. */
export const ADD_PARAMS = { a: 1, b: 2 };

/** The brokers on this machine (the tcp transport has none: its server listens itself). */
export const BROKER_URLS: Record<Exclude<Transport, "tcp">, string> = {
  nats: "nats://127.0.0.1:4222",
  redis: "redis://127.0.0.1:6379",
  amqp: "amqp://guest:guest@127.0.0.1:5672",
};

/** The operations every server answers: `math.add` ({a,b} → a+b) and `bench.echo` (params back). */
export function answer(method: string, params: unknown): unknown {
  if (method === "math.add") {
    const { a, b } = params as { a: number; b: number };
    return a + b;
  }
  if (method === "bench.echo") return params;
  throw new Error(`unknown method '${method}'`);
}

/** How a raw client turns a value into bytes and back. */
export interface WireCodec {
  encode(value: unknown): Buffer;
  decode(bytes: Uint8Array): unknown;
}

/** JSON text, or MessagePack through msgpackr (loaded only when asked for). */
export async function wireCodec(codec: Codec): Promise<WireCodec> {
  if (codec === "msgpack") {
    const { pack, unpack } = await import("msgpackr");
    return { encode: (value) => pack(value), decode: (bytes) => unpack(bytes) };
  }
  return {
    encode: (value) => Buffer.from(JSON.stringify(value)),
    // A view on the same memory, not a copy (NATS hands over a Uint8Array).
    decode: (bytes) =>
      JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString()),
  };
}

/** A short random suffix, for reply subjects and node names that must not meet another pair's. */
export const randomSuffix = (): string => Math.random().toString(36).slice(2, 10);

/** What a raw server sends back for one request: the result, or the error's message. */
export interface RawReply {
  id?: number | string;
  result?: unknown;
  error?: string;
}

/** Answers one raw request; an operation that throws becomes an `error` reply. */
export function rawReply(method: string, params: unknown): RawReply {
  try {
    return { result: answer(method, params) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The raw clients' calls waiting for their replies, by correlation id. */
export class PendingCalls<Id> {
  readonly #waiting = new Map<Id, { resolve(v: unknown): void; reject(e: Error): void }>();

  wait(id: Id): Promise<unknown> {
    return new Promise((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
  }

  /** Settles the call `id` with `reply`; a reply nobody waits for (any more) is dropped. */
  settle(id: Id, reply: RawReply): void {
    const call = this.#waiting.get(id);
    if (call === undefined) return;
    this.#waiting.delete(id);
    if (reply.error !== undefined) call.reject(new Error(reply.error));
    else call.resolve(reply.result);
  }

  /** Fails every call still waiting (the client is closing). */
  failAll(reason: string): void {
    for (const call of this.#waiting.values()) call.reject(new Error(reason));
    this.#waiting.clear();
  }
}

/** What the framework contenders need of a broker (Flotilla's and Moleculer's alike). */
export interface BenchBroker {
  call(action: string, params: never): Promise<unknown>;
  waitForServices(names: string[], timeout: number): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * A framework contender: a broker per side, started by `start` (the server side with `math` and
 * `bench`); the client waits until both services are in its registry before the first call.
 */
export function brokerContender(
  kind: Kind,
  start: (at: Endpoint, side: "server" | "client") => Promise<BenchBroker>,
): Contender {
  return {
    kind,
    supports: () => true,
    serve: async (at) => {
      const broker = await start(at, "server");
      return { close: () => broker.stop() };
    },
    client: async (at): Promise<BenchClient> => {
      const broker = await start(at, "client");
      await broker.waitForServices(["math", "bench"], 10_000);
      return {
        add: () => broker.call("math.add", ADD_PARAMS as never),
        // A string payload travels as params all the same.
        echo: (payload) => broker.call("bench.echo", payload as never),
        close: () => broker.stop(),
      };
    },
  };
}

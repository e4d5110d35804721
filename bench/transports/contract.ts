// What the transport benchmark's contenders and its runner agree on (bench/transports/).
// A contender is one framework (or the raw client, the floor) on one transport. Its server side
// runs in a child process of its own (`serve`); its client side runs in another child process
// (`client`), which the runner (run.ts) drives. Both print what they have to say as one JSON line.

/** The message transports compared. */
export type Transport = "tcp" | "nats" | "redis" | "amqp";
/** Who is measured: the raw client (the floor), Flotilla, and the peers. */
export type Kind = "raw" | "flotilla" | "moleculer" | "nestjs";
/** How params and results are encoded on the wire. */
export type Codec = "json" | "msgpack";

/** Where a contender's two sides meet. */
export interface Endpoint {
  transport: Transport;
  /** A namespace (or subject / queue / channel prefix) of this pair only. */
  namespace: string;
  codec: Codec;
  /** A free TCP port for transports that listen themselves (tcp), chosen by the runner. */
  port: number;
}

/** The calling side of a contender. */
export interface BenchClient {
  /** `math.add({ a: 1, b: 2 })` → 3: the call whose throughput and latency are measured. */
  add(): Promise<unknown>;
  /** `bench.echo(payload)` → the payload back, for the payload-size runs. */
  echo(payload: unknown): Promise<unknown>;
  close(): Promise<void>;
}

/** One framework's two sides. */
export interface Contender {
  kind: Kind;
  /** Whether it can run on this transport with this codec (e.g. no MessagePack for NestJS). */
  supports(transport: Transport, codec: Codec): boolean;
  /** Starts the server side in this process; resolves once it serves `math.add` and `bench.echo`. */
  serve(at: Endpoint): Promise<{ close(): Promise<void> }>;
  /** Connects the client side in this process; resolves once a call can be made. */
  client(at: Endpoint): Promise<BenchClient>;
}

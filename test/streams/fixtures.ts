import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { type Context, defineService, type ServiceBroker } from "flotilla";
import { getInternals } from "../../src/broker/internals.js";
import { requireServer } from "../harness/index.js";
import { startBroker } from "../helpers.js";

/** The transports a stream test runs on: one broker-less, one through a message broker. */
export const TRANSPORTS = [
  {
    name: "tcp://",
    async url(cleanup: (fn: () => void) => void): Promise<string> {
      const dir = mkdtempSync(join(tmpdir(), "flotilla-streams-"));
      cleanup(() => rmSync(dir, { recursive: true, force: true }));
      return `tcp://?dir=${encodeURIComponent(dir)}`;
    },
  },
  {
    name: "nats://",
    async url(): Promise<string> {
      await requireServer("nats");
      return "nats://127.0.0.1:4222";
    },
  },
] as const;

/**
 * A byte source that makes `total` bytes on demand (a repeating pattern), counting what was
 * pulled from it: nothing is allocated up front, so a 1 GB stream costs no memory by itself.
 */
export function patternSource(total: number, piece = 256 * 1024) {
  const block = Buffer.alloc(piece);
  for (let i = 0; i < piece; i++) block[i] = (i * 31 + 7) & 0xff;
  const state = { pulled: 0 };
  const stream = new Readable({
    read() {
      if (state.pulled >= total) return void this.push(null);
      const size = Math.min(piece, total - state.pulled);
      state.pulled += size;
      this.push(size === piece ? block : block.subarray(0, size));
    },
  });
  return { stream, state };
}

/** The SHA-256 of `total` bytes of {@link patternSource}. */
export async function patternDigest(total: number): Promise<string> {
  return digest(patternSource(total).stream);
}

/** Reads a stream to its end: its SHA-256 and length. */
export async function digest(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  let length = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    length += chunk.length;
  }
  return `${length}:${hash.digest("hex")}`;
}

/** A service that streams both ways: `download` makes bytes, `upload` reads them. */
export const files = defineService({
  name: "files",
  actions: {
    download: {
      handler: (ctx: Context<{ size: number }>) => patternSource(ctx.params.size).stream,
    },
    upload: {
      handler: (ctx: Context) => digest(ctx.params as unknown as Readable),
    },
    echo: {
      // Passes its input through: the answer streams while the input still arrives.
      handler: (ctx: Context) => ctx.params as unknown as Readable,
    },
    fail: {
      handler: () =>
        new Readable({
          read() {
            this.destroy(new Error("disk on fire"));
          },
        }),
    },
  },
});

/** A server node with `files` and a client node, on a namespace of their own. */
export async function pair(
  transporter: string,
): Promise<{ server: ServiceBroker; client: ServiceBroker }> {
  const namespace = `streams-${randomUUID().slice(0, 8)}`;
  const options = { namespace, transporter };
  const server = await startBroker(files, { ...options, nodeID: "server" });
  const client = await startBroker([], { ...options, nodeID: "client" });
  await client.waitForServices(["files"], 10_000);
  return { server, client };
}

/** A node's streams in flight (transit's count). */
export function streamsOf(broker: ServiceBroker) {
  const transit = getInternals(broker).transit();
  if (transit === undefined) throw new Error("not connected");
  return transit.streams.size;
}

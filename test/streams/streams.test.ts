import { Readable } from "node:stream";
import { type Context, defineService, FlotillaError } from "flotilla";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../harness/index.js";
import { deferred, startBroker } from "../helpers.js";
import { digest, pair, patternDigest, patternSource, streamsOf, TRANSPORTS } from "./fixtures.js";

// A call's params or result may be a byte stream; across nodes it travels in pieces with credit
// from the reader, so a slow reader holds the sender and memory stays bounded.

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe.each(TRANSPORTS)("streams over $name", (transport) => {
  const nodes = async () => pair(await transport.url((fn) => cleanups.push(fn)));

  it("returns a stream from another node, byte for byte", async () => {
    const { client } = await nodes();
    const size = 5 * 1024 * 1024 + 123;
    const result = await client.call("files.download", { size });
    expect(result).toBeInstanceOf(Readable);
    expect(await digest(result as Readable)).toBe(await patternDigest(size));
    await until(() => streamsOf(client).receiving === 0);
  });

  it("takes a stream as params on another node", async () => {
    const { client, server } = await nodes();
    const size = 3 * 1024 * 1024 + 7;
    const answer = await client.call("files.upload", patternSource(size).stream);
    expect(answer).toBe(await patternDigest(size));
    await until(() => streamsOf(server).receiving === 0 && streamsOf(client).sending === 0);
  });

  it("streams both ways at once through a handler that passes its input on", async () => {
    const { client } = await nodes();
    const size = 2 * 1024 * 1024 + 1;
    const out = await client.call("files.echo", patternSource(size).stream);
    expect(await digest(out as Readable)).toBe(await patternDigest(size));
  });

  it("fails the reader with the error of the sending side", async () => {
    const { client } = await nodes();
    const out = (await client.call("files.fail", {})) as Readable;
    const err = await digest(out).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as Error).message).toContain("disk on fire");
  });

  it("stops the sender when the reader gives up", async () => {
    const { client, server } = await nodes();
    const out = (await client.call("files.download", { size: 1024 ** 3 })) as Readable;
    for await (const _ of out) break; // one piece, then destroy
    await until(() => streamsOf(server).sending === 0, { message: "the server stops sending" });
  });

  it("breaks the reader's stream when the sending node leaves", async () => {
    const { client, server } = await nodes();
    const out = (await client.call("files.download", { size: 1024 ** 3 })) as Readable;
    const failed = digest(out).then(
      () => undefined,
      (e: unknown) => e,
    );
    await server.stop();
    expect(await failed).toMatchObject({ code: "STREAM_BROKEN" });
  });
});

describe("back-pressure (tcp://)", () => {
  it("holds the sender while the reader does not read: what it pulled stays bounded", async () => {
    const url = await TRANSPORTS[0].url((fn) => cleanups.push(fn));
    const total = 64 * 1024 * 1024;
    const source = patternSource(total);
    const ns = `bp-${Math.random().toString(36).slice(2)}`;
    const server = await startBroker(
      defineService({ name: "slow", actions: { get: { handler: () => source.stream } } }),
      { nodeID: "server", namespace: ns, transporter: url },
    );
    const client = await startBroker([], { nodeID: "client", namespace: ns, transporter: url });
    await client.waitForServices(["slow"], 10_000);
    const out = (await client.call("slow.get", {})) as Readable;
    // Nobody reads: the sender runs out of credit and waits.
    await until(() => streamsOf(server).waiting === 1, { message: "the sender waits for credit" });
    const held = source.state.pulled;
    // The window (1 MiB), the reader's buffer and one piece of the source, not 64 MiB.
    expect(held).toBeLessThan(4 * 1024 * 1024);
    expect(await digest(out)).toBe(await patternDigest(total));
    expect(source.state.pulled).toBe(total);
  });

  it("reads a stream as params at the reader's pace", async () => {
    const url = await TRANSPORTS[0].url((fn) => cleanups.push(fn));
    const total = 32 * 1024 * 1024;
    const source = patternSource(total);
    const ns = `bp-${Math.random().toString(36).slice(2)}`;
    let reader: Readable | undefined;
    const release = deferred();
    await startBroker(
      defineService({
        name: "sink",
        actions: {
          take: {
            handler: async (ctx: Context) => {
              reader = ctx.params as unknown as Readable;
              await release.promise;
              return digest(reader);
            },
          },
        },
      }),
      { nodeID: "server", namespace: ns, transporter: url },
    );
    const client = await startBroker([], { nodeID: "client", namespace: ns, transporter: url });
    await client.waitForServices(["sink"], 10_000);
    const answer = client.call("sink.take", source.stream);
    await until(() => streamsOf(client).waiting === 1, { message: "the caller waits for credit" });
    expect(source.state.pulled).toBeLessThan(4 * 1024 * 1024);
    release.resolve();
    expect(await answer).toBe(await patternDigest(total));
  });
});

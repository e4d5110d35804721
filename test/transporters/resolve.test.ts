import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  knownTransporterSchemes,
  parseTransporterUrl,
  registerTransporter,
  resolveTransporter,
} from "../../src/transporters/index.js";
import { MemoryBus, MemoryTransporter } from "../../src/transporters/memory/index.js";
import {
  parseTcpUrl,
  resolveTcpOptions,
  TcpTransporter,
} from "../../src/transporters/tcp/index.js";
import type { Transporter } from "../../src/transporters/transporter.js";

describe("resolveTransporter", () => {
  it("makes the built-in transporters from their URLs", async () => {
    expect(await resolveTransporter("memory://")).toBeInstanceOf(MemoryTransporter);
    expect(await resolveTransporter("tcp://")).toBeInstanceOf(TcpTransporter);
    expect(await resolveTransporter("TCP")).toBeInstanceOf(TcpTransporter); // a bare name
    const tcp = (await resolveTransporter("tcp://?port=4001&udp=false")) as TcpTransporter;
    expect(tcp.options).toEqual({ port: 4001, udp: false });
  });

  it("takes a comma list of seeds in the authority", async () => {
    const url = parseTransporterUrl("tcp://10.0.0.1:4000,[::1]:4001?udp=0");
    expect(url.searchParams.get("hosts")).toBe("10.0.0.1:4000,[::1]:4001");
    const tcp = (await resolveTransporter(
      "tcp://10.0.0.1:4000,[::1]:4001?udp=0",
    )) as TcpTransporter;
    expect(tcp.options).toEqual({ udp: false, seeds: ["10.0.0.1:4000", "[::1]:4001"] });
  });

  it("keeps credentials when the authority lists several hosts", () => {
    const url = parseTransporterUrl("amqp://u:p@h1:5673,h2/vh?heartbeat=5");
    expect(url.username).toBe("u");
    expect(url.password).toBe("p");
    expect(url.pathname).toBe("/vh");
    expect(url.searchParams.get("hosts")).toBe("h1:5673,h2");
  });

  it("names the known schemes when the scheme is unknown", async () => {
    await expect(resolveTransporter("kafka://broker:9092")).rejects.toMatchObject({
      code: "UNKNOWN_TRANSPORTER",
      status: 500,
      message: expect.stringMatching(/Known: .*memory:\/\/.*tcp:\/\//),
    });
  });

  it("rejects what is not a URL, hiding a password", async () => {
    const err = await resolveTransporter("tcp://user:pw@[bad").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_TRANSPORTER_URL" });
    expect((err as Error).message).not.toMatch(/pw/);
  });

  it("uses a registered transporter until it is unregistered", async () => {
    const made: Transporter = new MemoryTransporter(new MemoryBus());
    const unregister = registerTransporter("Loop:", (url) => {
      expect(url.host).toBe("here");
      return made;
    });
    expect(knownTransporterSchemes()).toContain("loop");
    expect(await resolveTransporter("loop://here")).toBe(made);
    unregister();
    await expect(resolveTransporter("loop://here")).rejects.toMatchObject({
      code: "UNKNOWN_TRANSPORTER",
    });
    expect(() => registerTransporter("not a scheme", () => made)).toThrow(TypeError);
  });
});

describe("tcp options", () => {
  it.each([
    ["tcp://?port=abc", /non-negative integer/],
    ["tcp://?udp=maybe", /true or false/],
    ["tcp://?prot=4000", /Unknown tcp transporter option 'prot'/],
    // The limit is the broker's maxPacketSize, one for every transporter.
    ["tcp://?maxPacketSize=1024", /Unknown tcp transporter option 'maxPacketSize'/],
    ["tcp://10.0.0.1", /needs a port/],
    ["tcp://?seeds=nohost", /not a host:port/],
  ])("refuses %s", (url, message) => {
    expect(() => parseTcpUrl(url)).toThrow(message);
  });

  it("fills in defaults, namespacing the rendezvous directory", () => {
    const context = (namespace: string) => ({ namespace, maxPacketSize: 16 * 1024 * 1024 });
    const o = resolveTcpOptions({}, context(""), {});
    expect(o).toMatchObject({
      host: "127.0.0.1",
      port: 0,
      dir: path.join(tmpdir(), "flotilla", "default"),
      udp: undefined,
      seeds: [],
      maxPacketSize: 16 * 1024 * 1024,
      maxBufferedBytes: 64 * 1024 * 1024,
      readyTimeout: 2000,
    });
    // A peer's queue holds at least two packets of the broker's maxPacketSize.
    expect(
      resolveTcpOptions({}, { namespace: "", maxPacketSize: 48 * 1024 * 1024 }, {}),
    ).toMatchObject({ maxPacketSize: 48 * 1024 * 1024, maxBufferedBytes: 96 * 1024 * 1024 });
    expect(resolveTcpOptions({}, context("shop/eu"), { FLOTILLA_TCP_DIR: "/x" }).dir).toBe(
      path.join("/x", "shop%2Feu"),
    );
    expect(resolveTcpOptions({ dir: "/y" }, context("s"), { FLOTILLA_TCP_DIR: "/x" }).dir).toBe(
      "/y/s",
    );
    expect(resolveTcpOptions({ rendezvous: false, udp: true }, context("s"), {})).toMatchObject({
      dir: undefined,
      udp: { address: "239.0.0.0", port: 4445, interval: 2000 },
    });
  });
});

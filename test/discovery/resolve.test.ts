import { describe, expect, it } from "vitest";
import type { Discoverer } from "../../src/registry/discoverers/discoverer.js";
import { EtcdDiscoverer } from "../../src/registry/discoverers/etcd.js";
import { parseDiscoveryUrl, resolveDiscoverer } from "../../src/registry/discoverers/index.js";
import { runWithout } from "../harness/index.js";

// Choosing a discoverer by URL, as the broker's `discovery` option and `--discovery` do.

describe("resolving a discoverer", () => {
  it("takes local (or nothing) as discovery over the transporter", async () => {
    await expect(resolveDiscoverer(undefined)).resolves.toBeUndefined();
    await expect(resolveDiscoverer("local")).resolves.toBeUndefined();
  });

  it("makes an etcd discoverer for a cluster of servers, with the key prefix", async () => {
    const made = await resolveDiscoverer("etcd://10.0.0.1:2379,10.0.0.2:2379?prefix=/shop");
    expect(made).toBeInstanceOf(EtcdDiscoverer);
    expect(made?.kind).toBe("etcd");
    const { options } = made as EtcdDiscoverer;
    expect(options.hosts).toEqual(["10.0.0.1:2379", "10.0.0.2:2379"]);
    expect(options.prefix).toBe("/shop");
    const given = await resolveDiscoverer({ url: "etcd://127.0.0.1:2379", prefix: "/billing" });
    expect((given as EtcdDiscoverer).options.prefix).toBe("/billing");
  });

  it("reads the prefix from the path, credentials from the authority, and defaults", () => {
    expect(parseDiscoveryUrl("etcd://127.0.0.1:2379/team-a").options.prefix).toBe("/team-a");
    expect(parseDiscoveryUrl("etcd://").options).toMatchObject({ hosts: [], prefix: "/flotilla" });
    const { options } = parseDiscoveryUrl("etcd://ada:s%40cret@h1:2379,h2:2379");
    expect(options.auth).toEqual({ username: "ada", password: "s@cret" });
    expect(options.hosts).toEqual(["h1:2379", "h2:2379"]);
    expect(parseDiscoveryUrl("zk://[::1]:2181").options.hosts).toEqual(["[::1]:2181"]);
  });

  it("passes a discoverer object through as it is", async () => {
    const own: Discoverer = {
      kind: "static",
      start: async () => {},
      update: async () => {},
      stop: async () => {},
      halt: async () => {},
    };
    await expect(resolveDiscoverer(own)).resolves.toBe(own);
  });

  it("refuses unknown schemes, unknown options and bad prefixes with their codes", async () => {
    await expect(resolveDiscoverer("consul://127.0.0.1:8500")).rejects.toMatchObject({
      code: "UNKNOWN_DISCOVERER",
      data: { scheme: "consul" },
    });
    await expect(resolveDiscoverer("etcd://127.0.0.1:2379?ttl=3")).rejects.toMatchObject({
      code: "INVALID_DISCOVERY_URL",
    });
    await expect(resolveDiscoverer("etcd://127.0.0.1:2379?timeout=-1")).rejects.toMatchObject({
      code: "INVALID_DISCOVERY_URL",
    });
    for (const prefix of ["shop", "/", "/shop/", "/a//b"]) {
      expect(() => parseDiscoveryUrl("etcd://h:2379", { prefix }), prefix).toThrow(
        expect.objectContaining({ code: "INVALID_DISCOVERY_URL" }),
      );
    }
    expect(() => parseDiscoveryUrl("not a url")).toThrow(
      expect.objectContaining({ code: "INVALID_DISCOVERY_URL" }),
    );
  });

  it("without the etcd3 package, a node fails to start with the npm install line", async () => {
    const out = await runWithout(
      ["etcd3"],
      `
      const { ServiceBroker } = await import("./src/index.ts");
      const broker = new ServiceBroker({ logger: false, transporter: "memory://", discovery: "etcd://127.0.0.1:1" });
      const err = await broker.start().catch((e) => e);
      console.log(JSON.stringify({ code: err.code, message: err.message }));`,
    );
    const { code, message } = JSON.parse(out) as { code: string; message: string };
    expect(code).toBe("MISSING_DEPENDENCY");
    expect(message).toContain("npm install etcd3");
  });
});

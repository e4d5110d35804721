import { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import {
  advertisedAddress,
  parseTcpUrl,
  resolveTcpOptions,
} from "../../src/transporters/tcp/options.js";

// Where a tcp:// node tells a registry center it can be dialed, and what it turns off when a
// registry gives the addresses.

const context = { namespace: "shop", maxPacketSize: 1 << 20 };

describe("the address a tcp:// node advertises", () => {
  it("is the listening host and port, or the advertise option", () => {
    expect(advertisedAddress({ host: "10.1.2.3", advertise: undefined }, 4000)).toBe(
      "10.1.2.3:4000",
    );
    expect(advertisedAddress({ host: "0.0.0.0", advertise: "node-a.internal" }, 4000)).toBe(
      "node-a.internal:4000",
    );
    // Behind a port mapping, the advertised port is the one others reach.
    expect(advertisedAddress({ host: "0.0.0.0", advertise: "203.0.113.9:30400" }, 4000)).toBe(
      "203.0.113.9:30400",
    );
    expect(advertisedAddress({ host: "::1", advertise: undefined }, 4000)).toBe("[::1]:4000");
    expect(parseTcpUrl("tcp://?advertise=10.0.0.5").advertise).toBe("10.0.0.5");
  });

  it("is one of this machine's own IPv4 addresses when listening on every interface", () => {
    const mine = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i?.family === "IPv4")
      .map((i) => i?.address);
    const [host, port] = advertisedAddress({ host: "0.0.0.0", advertise: undefined }, 4000).split(
      ":",
    );
    expect(port).toBe("4000");
    expect(host).not.toBe("0.0.0.0");
    expect(mine).toContain(host);
  });

  it("leaves the rendezvous directory off when a registry gives peers, unless asked for", () => {
    expect(resolveTcpOptions({}, context).dir).toBeDefined();
    expect(resolveTcpOptions({}, { ...context, peersFromDiscoverer: true }).dir).toBeUndefined();
    expect(
      resolveTcpOptions({ rendezvous: true }, { ...context, peersFromDiscoverer: true }).dir,
    ).toBeDefined();
    expect(resolveTcpOptions({}, { ...context, peersFromDiscoverer: true }).udp).toBeUndefined();
  });
});

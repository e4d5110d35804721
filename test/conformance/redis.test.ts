import { beforeAll, describe, expect, it } from "vitest";
import { resolveTransporter } from "../../src/transporters/index.js";
import { parseRedisUrl, RedisTransporter } from "../../src/transporters/redis/index.js";
import { peerAwareTests, requireServer, runWithout, ScopedTransporter } from "../harness/index.js";
import { bytes, Probe } from "../transporters/helpers.js";
import { runTransporterSuite } from "../transporters/suite.js";
import { runTransporterConformance } from "./suite.js";

// The shared server of this machine (.ci/services.sh starts it). Down means failed, not skipped.
beforeAll(() => requireServer("redis"));

runTransporterConformance({ name: "redis://", transporter: () => "redis://127.0.0.1:6379" });

let run = 0;
runTransporterSuite({
  name: "redis (bytes)",
  harness: () => {
    const prefix = `bytes.${process.pid}.${Date.now().toString(36)}.${run++}.`;
    return {
      create: () => new ScopedTransporter(new RedisTransporter(), prefix),
      kill: (t) => t.kill?.() ?? t.disconnect(),
    };
  },
  skip: [
    {
      reason: "Redis is not peer-aware; transit notices peers by heartbeat",
      tests: peerAwareTests,
    },
  ],
});

describe("redis transporter", () => {
  it("reads host, port, database, credentials and options from the URL", async () => {
    expect(parseRedisUrl("redis://127.0.0.1:6379")).toEqual({ host: "127.0.0.1", port: 6379 });
    expect(parseRedisUrl("redis://app:p%40ss@cache.local/3?tls=1&connectTimeout=900")).toEqual({
      host: "cache.local",
      db: 3,
      username: "app",
      password: "p@ss",
      tls: true,
      connectTimeout: 900,
    });
    expect(parseRedisUrl("redis://[::1]:6380")).toEqual({ host: "::1", port: 6380 });
    expect(await resolveTransporter("redis://127.0.0.1:6379/0")).toBeInstanceOf(RedisTransporter);
    expect(() => parseRedisUrl("redis://h/cache")).toThrow(/not a Redis database number/);
    expect(() => parseRedisUrl("redis://h?db=1")).toThrow(/Unknown redis transporter option 'db'/);
    await expect(resolveTransporter("redis://a:6379,b:6379")).rejects.toMatchObject({
      code: "INVALID_TRANSPORTER_URL",
      message: expect.stringMatching(/one server/),
    });
  });

  it("does no balancing: every subscriber of a channel gets each message, group or not", async () => {
    const prefix = `groups.${process.pid}.${Date.now().toString(36)}.`;
    const nodes = ["a", "b"].map((id) => ({
      t: new ScopedTransporter(new RedisTransporter(), prefix),
      probe: new Probe(id),
    }));
    try {
      for (const n of nodes) {
        await n.t.connect(n.probe.context());
        await n.t.subscribe("jobs", "workers");
      }
      expect(nodes[0]?.t.capabilities.balancing).toBe(false);
      await nodes[0]?.t.publish("jobs", bytes("j1"));
      for (const n of nodes) await n.probe.until(() => n.probe.texts("jobs").length === 1, "j1");
    } finally {
      await Promise.all(nodes.map((n) => n.t.disconnect()));
    }
  });

  it("fails to connect with a retryable TRANSPORTER_NOT_CONNECTED naming the server", async () => {
    const t = new RedisTransporter({ port: 1 });
    await expect(t.connect(new Probe("n1").context())).rejects.toMatchObject({
      code: "TRANSPORTER_NOT_CONNECTED",
      retryable: true,
      message: expect.stringContaining("127.0.0.1:1"),
    });
    await expect(t.publish("x", bytes("x"))).rejects.toMatchObject({
      code: "TRANSPORTER_NOT_CONNECTED",
      status: 503,
      retryable: true,
    });
  });

  it("without the client package, says which package to install", async () => {
    const out = await runWithout(
      ["ioredis"],
      `const { resolveTransporter } = await import("./src/transporters/index.ts");
       const err = await resolveTransporter("redis://127.0.0.1:6379").catch((e) => e);
       console.log(JSON.stringify({ code: err.code, message: err.message }));`,
    );
    const err = JSON.parse(out) as { code: string; message: string };
    expect(err.code).toBe("MISSING_DEPENDENCY");
    expect(err.message.split("\n")).toContain("npm install ioredis");
  });
});

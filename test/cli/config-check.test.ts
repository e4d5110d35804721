import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "../../src/cli/args.js";
import { checkConfig, envOf, flagOf, readBy } from "../../src/cli/config/keys.js";
import { loadCliConfig } from "../../src/cli/config/load.js";
import { COMMANDS } from "../../src/cli/options.js";

// The config file's checks and its place in the order of sources, in this process (the CLI's
// own runs are in config.test.ts): every kind of key, every way a value can be wrong.

const dir = mkdtempSync(join(tmpdir(), "flotilla-config-check-"));
writeFileSync(join(dir, "package.json"), "{}");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const invalid = (raw: unknown) => {
  try {
    checkConfig(raw, "flotilla.config.json");
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("no error");
};

describe("checkConfig", () => {
  it("takes every kind of key, converting durations to ms", () => {
    expect(
      checkConfig(
        {
          services: "services/*.ts",
          transporter: "nats://127.0.0.1:4222",
          namespace: "",
          serializer: "msgpack",
          logLevel: "warn",
          nodeID: "n1",
          instances: 2,
          healthPort: "8080",
          drainTimeout: "5s",
          watch: true,
          timeout: 1500,
          broker: { requestTimeout: 2000, cacher: false },
          wait: undefined,
        },
        "f",
      ),
    ).toEqual({
      services: ["services/*.ts"],
      transporter: "nats://127.0.0.1:4222",
      namespace: "",
      serializer: "msgpack",
      logLevel: "warn",
      nodeID: "n1",
      instances: 2,
      healthPort: 8080,
      drainTimeout: 5000,
      watch: true,
      timeout: 1500,
      broker: { requestTimeout: 2000, cacher: false },
    });
  });

  it.each([
    [[], "must export a config object"],
    [null, "must export a config object"],
    [{ namespce: "x" }, "did you mean 'namespace'"],
    [{ watch: "yes" }, "'watch' must be true or false"],
    [{ services: [] }, "'services' must be a file, directory or glob"],
    [{ services: ["a.ts", ""] }, "'services' must be a file, directory or glob"],
    [{ instances: "many" }, "'instances'"],
    [{ instances: 0 }, "'instances'"],
    [{ transporter: 42 }, "'transporter' must be a string"],
    [{ healthPort: true }, "'healthPort' must be a number"],
    [{ serializer: "xml" }, "'serializer'"],
    [{ drainTimeout: "soon" }, "'drainTimeout'"],
    [{ broker: "fast" }, "'broker' must be an object of broker options"],
    [{ broker: { requestTimeot: 1 } }, "requestTimeot"],
  ])("refuses %j with CONFIG_INVALID naming the key", (raw, text) => {
    const err = invalid(raw);
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain(text);
  });
});

describe("the key rules", () => {
  it("names flags and variables by rule, and scopes run-only keys", () => {
    expect(flagOf("healthPort")).toBe("health-port");
    expect(flagOf("nodeID")).toBe("node-id");
    expect(flagOf("broker")).toBeUndefined();
    expect(envOf("dependencyTimeout")).toBe("FLOTILLA_DEPENDENCY_TIMEOUT");
    expect(readBy("nodeID", "run")).toBe(true);
    expect(readBy("nodeID", "call")).toBe(false);
    expect(readBy("namespace", "call")).toBe(true);
  });
});

describe("loadCliConfig", () => {
  const write = (name: string, text: string) => {
    const folder = mkdtempSync(join(dir, "p-"));
    writeFileSync(join(folder, "package.json"), "{}");
    writeFileSync(join(folder, name), text);
    return folder;
  };
  const parsed = (args: string[]) =>
    parse(args, COMMANDS.call.options, { command: "call", env: {} });

  it("fills what flags and the environment leave from the file; flags win", async () => {
    const folder = write(
      "flotilla.config.json",
      JSON.stringify({ namespace: "from-file", timeout: "3s", broker: { requestTimeout: 900 } }),
    );
    const config = await loadCliConfig(parsed(["a.b", "--namespace", "flag"]), "call", folder);
    expect(config.file).toBe(join(folder, "flotilla.config.json"));
    expect(config.parsed.options.namespace).toBe("flag");
    expect(config.parsed.options.timeout).toBe(3000);
    expect(config.broker).toEqual({ requestTimeout: 900 });
  });

  it("reads a .mjs config that exports a function of the environment", async () => {
    const folder = write(
      "flotilla.config.mjs",
      "export default (env) => ({ namespace: env.NODE_ENV === 'test' ? 'tested' : 'other' });",
    );
    const config = await loadCliConfig(parsed(["a.b"]), "call", folder);
    expect(config.parsed.options.namespace).toBe("tested");
  });

  it("fails with CONFIG_LOAD_FAILED on bad JSON, a missing named file, or a throwing file", async () => {
    const broken = write("flotilla.config.json", "{ namespace: ");
    await expect(loadCliConfig(parsed(["a.b"]), "call", broken)).rejects.toMatchObject({
      code: "CONFIG_LOAD_FAILED",
    });
    await expect(
      loadCliConfig(parsed(["a.b", "--config", "nope.json"]), "call", broken),
    ).rejects.toMatchObject({ code: "CONFIG_LOAD_FAILED" });
    const throwing = write("flotilla.config.mjs", "throw new Error('no config for you');");
    await expect(loadCliConfig(parsed(["a.b"]), "call", throwing)).rejects.toMatchObject({
      code: "CONFIG_LOAD_FAILED",
    });
  });
});

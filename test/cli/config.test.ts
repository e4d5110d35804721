import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { envOf, flagOf } from "../../src/cli/config/keys.js";
import { CONFIG_KEY_NAMES } from "../../src/cli/config/load.js";
import { COMMANDS } from "../../src/cli/options.js";
import { until } from "../harness/index.js";
import { cli, flotilla, root } from "./helpers.js";

// Each test writes a small project (package.json, config file, .env) into a folder of its own and
// runs the built CLI there. A listing that finds no node says where it looked, in one line on
// stderr: that line shows which transporter and namespace won.
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-config-"));
  dirs.push(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(root, join(dir, "node_modules/flotilla"), "dir");
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** The environment without the FLOTILLA_* variables of whoever runs the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NO_COLOR: "1" };
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("FLOTILLA_") && k !== "NODE_ENV") env[k] = v;
  return { ...env, ...extra };
}

/** The namespace a `flotilla nodes` run in `cwd` looked in. */
async function namespaceSeen(cwd: string, args: string[] = [], env = cleanEnv()) {
  const res = await flotilla(["nodes", "--wait", "100", ...args], { cwd, env });
  expect(res.code, res.stderr).toBe(0);
  return /namespace "([^"]*)"/.exec(res.stderr)?.[1];
}

const tcp = (dir: string) => `tcp://?udp=false&dir=${encodeURIComponent(join(dir, ".tcp"))}`;

describe("flotilla.config.*", () => {
  it("fills options in the order defaults < config file < .env < environment < flags", async () => {
    const dir = project({});
    writeFileSync(
      join(dir, "flotilla.config.json"),
      JSON.stringify({ namespace: "from-file", transporter: tcp(dir) }),
    );
    expect(await namespaceSeen(dir)).toBe("from-file");
    writeFileSync(join(dir, ".env"), "FLOTILLA_NAMESPACE=from-dotenv\n");
    expect(await namespaceSeen(dir)).toBe("from-dotenv");
    writeFileSync(join(dir, ".env.staging"), "FLOTILLA_NAMESPACE=from-staging\n");
    expect(await namespaceSeen(dir, [], cleanEnv({ NODE_ENV: "staging" }))).toBe("from-staging");
    const env = cleanEnv({ FLOTILLA_NAMESPACE: "from-env" });
    expect(await namespaceSeen(dir, [], env)).toBe("from-env");
    expect(await namespaceSeen(dir, ["--namespace", "from-flag"], env)).toBe("from-flag");
  });

  it("is found in a parent folder up to the project root, or named with --config", async () => {
    const dir = project({ "flotilla.config.mjs": "export default { namespace: 'parent' };" });
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "other.json"), JSON.stringify({ namespace: "named" }));
    const env = cleanEnv({ FLOTILLA_TRANSPORTER: tcp(dir) });
    expect(await namespaceSeen(join(dir, "sub"), [], env)).toBe("parent");
    expect(await namespaceSeen(join(dir, "sub"), ["--config", "../other.json"], env)).toBe("named");
  });

  it("runs the services a typed config names, from a function of the environment", async () => {
    const dir = project({
      "flotilla.config.ts": `import { defineConfig } from "flotilla";
export default defineConfig((env) => ({
  services: ["svc.mjs"],
  nodeID: \`cfg-\${env.SUFFIX}\`,
  drainTimeout: "1s",
  broker: { heartbeatInterval: 500 },
}));
`,
      "svc.mjs": `export default { name: "cfg", actions: { hi: { handler: () => "hi" } } };`,
    });
    const child = spawn(process.execPath, [cli, "run"], {
      cwd: dir,
      env: cleanEnv({ SUFFIX: "x1", FLOTILLA_TRANSPORTER: tcp(dir), FLOTILLA_LOG_LEVEL: "info" }),
    });
    children.push(child);
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d;
    });
    await until(() => out.includes("Node 'cfg-x1' started with 1 service(s)"), {
      timeout: 20_000,
      message: "the node the config describes",
    });
  });

  it.each([
    [
      "an unknown key, with the closest one",
      { "flotilla.config.json": JSON.stringify({ namespce: "x" }) },
      "flotilla.config.json: 'namespce' is not a config key (did you mean 'namespace'?) (CONFIG_INVALID)",
    ],
    [
      "a value of the wrong type",
      { "flotilla.config.mjs": "export default { wait: 'soon' };" },
      "flotilla.config.mjs: 'wait' must be a duration in ms (e.g. 5000 or 5s), not \"soon\" (CONFIG_INVALID)",
    ],
    [
      "an unknown broker option",
      { "flotilla.config.mjs": "export default { broker: { heartbeatIntervall: 1 } };" },
      "'broker.heartbeatIntervall' is not a config key (did you mean 'heartbeatInterval'?)",
    ],
    [
      "a config file that throws",
      { "flotilla.config.mjs": "throw new Error('no secret here');" },
      "flotilla.config.mjs: threw at flotilla.config.mjs:1:7: no secret here (CONFIG_LOAD_FAILED)",
    ],
    [
      "a syntax error",
      { "flotilla.config.mjs": "export default {\n  namespace: 'a',,\n};" },
      "flotilla.config.mjs: has a syntax error at flotilla.config.mjs:2",
    ],
    [
      "a config file --config names that does not exist",
      { "flotilla.config.json": "{}" },
      "nope.json: no such config file (CONFIG_LOAD_FAILED)",
    ],
  ])("refuses %s with exit status 2, naming the file and key", async (_, files, message) => {
    const dir = project(files);
    const args = message.startsWith("nope.json") ? ["--config", "nope.json"] : [];
    const res = await flotilla(["nodes", "--wait", "100", ...args], { cwd: dir, env: cleanEnv() });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
  });

  it("names every option's environment variable by one rule", () => {
    for (const key of CONFIG_KEY_NAMES) {
      const flag = flagOf(key);
      if (flag === undefined) continue;
      for (const command of Object.values(COMMANDS)) {
        const spec = (command.options as Record<string, { env?: string }>)[flag];
        // `node-id` of the clients has no variable on purpose (see docs/cli.md).
        if (spec === undefined || (flag === "node-id" && spec.env === undefined)) continue;
        expect(spec.env, `--${flag}`).toBe(envOf(key));
      }
    }
  });
});

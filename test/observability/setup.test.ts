import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { globalHelp } from "../../src/cli/help.js";
import { ConfigurationError } from "../../src/errors/index.js";
import { tracingSettings } from "../../src/observability/tracing/settings.js";
import { flotilla, runNode } from "../cli/helpers.js";
import { runWithout } from "../harness/index.js";

// How the SDK's settings come from the `tracing` option and the standard OTEL_* variables.

const names = ["$node", "orders", "email"];
const settings = (env: NodeJS.ProcessEnv, options = {}) => tracingSettings(options, names, env);

describe("tracing settings from OTEL_* variables", () => {
  it("defaults to OTLP on the local collector, the node's services, parent-based always-on", () => {
    expect(settings({})).toEqual({
      exporters: [{ name: "otlp", url: "http://localhost:4318/v1/traces" }],
      serviceName: "orders,email",
      sampler: { name: "parentbased_always_on", root: "always_on", ratio: 1, parentBased: true },
    });
    expect(tracingSettings({}, ["$node"], {}).serviceName).toBe("flotilla");
  });

  it("OTEL_TRACES_EXPORTER: otlp, zipkin, console, none, or a list", () => {
    expect(settings({ OTEL_TRACES_EXPORTER: "zipkin" }).exporters).toEqual([
      { name: "zipkin", url: "http://localhost:9411/api/v2/spans" },
    ]);
    expect(settings({ OTEL_TRACES_EXPORTER: " Console " }).exporters).toEqual([
      { name: "console" },
    ]);
    expect(settings({ OTEL_TRACES_EXPORTER: "none" }).exporters).toEqual([]);
    expect(settings({ OTEL_TRACES_EXPORTER: "" }).exporters).toEqual([
      { name: "otlp", url: "http://localhost:4318/v1/traces" },
    ]);
    expect(settings({ OTEL_TRACES_EXPORTER: "otlp,console" }).exporters.map((e) => e.name)).toEqual(
      ["otlp", "console"],
    );
    // The option wins over the variable.
    expect(settings({ OTEL_TRACES_EXPORTER: "zipkin" }, { exporter: "console" }).exporters).toEqual(
      [{ name: "console" }],
    );
  });

  it("OTLP endpoint: the traces URL as is, else the base URL with /v1/traces", () => {
    const url = (env: NodeJS.ProcessEnv, options = {}) =>
      settings({ OTEL_TRACES_EXPORTER: "otlp", ...env }, options).exporters[0]?.url;
    expect(url({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toBe(
      "http://collector:4318/v1/traces",
    );
    expect(url({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com/otlp" })).toBe(
      "https://otel.example.com/otlp/v1/traces",
    );
    expect(
      url({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://base:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:4318/custom",
      }),
    ).toBe("http://traces:4318/custom");
    const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:4318/custom" };
    expect(url(env, { endpoint: "http://mine:4318" })).toBe("http://mine:4318/v1/traces");
    expect(url({}, { endpoint: "http://mine:4318/v1/traces" })).toBe("http://mine:4318/v1/traces");
  });

  it("Zipkin endpoint: OTEL_EXPORTER_ZIPKIN_ENDPOINT, or the option, as is", () => {
    const zipkin = { OTEL_TRACES_EXPORTER: "zipkin" };
    const endpoint = "http://zipkin:9411/api/v2/spans";
    expect(settings({ ...zipkin, OTEL_EXPORTER_ZIPKIN_ENDPOINT: endpoint }).exporters).toEqual([
      { name: "zipkin", url: endpoint },
    ]);
    expect(settings(zipkin, { endpoint: "http://z/spans" }).exporters[0]?.url).toBe(
      "http://z/spans",
    );
  });

  it("OTEL_SERVICE_NAME names the service, unless the option does", () => {
    expect(settings({ OTEL_SERVICE_NAME: "shop" }).serviceName).toBe("shop");
    expect(settings({ OTEL_SERVICE_NAME: "shop" }, { serviceName: "api" }).serviceName).toBe("api");
    expect(settings({ OTEL_SERVICE_NAME: "  " }).serviceName).toBe("orders,email");
  });

  it("OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; sampleRatio is parent-based", () => {
    const sampler = (env: NodeJS.ProcessEnv, options = {}) => settings(env, options).sampler;
    expect(sampler({ OTEL_TRACES_SAMPLER: "always_on" })).toMatchObject({
      root: "always_on",
      parentBased: false,
    });
    expect(sampler({ OTEL_TRACES_SAMPLER: "always_off" })).toMatchObject({
      root: "always_off",
      parentBased: false,
    });
    expect(sampler({ OTEL_TRACES_SAMPLER: "parentbased_always_off" })).toMatchObject({
      root: "always_off",
      parentBased: true,
    });
    expect(
      sampler({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }),
    ).toMatchObject({ root: "ratio", ratio: 0.25, parentBased: false });
    expect(sampler({ OTEL_TRACES_SAMPLER: "PARENTBASED_TRACEIDRATIO" })).toMatchObject({
      root: "ratio",
      ratio: 1, // no argument: the specification's default
      parentBased: true,
    });
    // The argument of a sampler that takes none is not read.
    expect(sampler({ OTEL_TRACES_SAMPLER_ARG: "nonsense" }).name).toBe("parentbased_always_on");
    const env = { OTEL_TRACES_SAMPLER: "always_on" };
    expect(sampler(env, { sampleRatio: 0.1 })).toEqual({
      name: "parentbased_traceidratio",
      root: "ratio",
      ratio: 0.1,
      parentBased: true,
    });
  });

  it.each([
    [{ OTEL_TRACES_EXPORTER: "jaeger" }, {}, "OTEL_TRACES_EXPORTER"],
    [{ OTEL_TRACES_EXPORTER: "otlp,nope" }, {}, "OTEL_TRACES_EXPORTER"],
    [{}, { exporter: "prometheus" }, "tracing.exporter"],
    [{ OTEL_TRACES_SAMPLER: "xray" }, {}, "OTEL_TRACES_SAMPLER"],
    [{ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" }, {}, "SAMPLER_ARG"],
    [{ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "half" }, {}, "SAMPLER_ARG"],
    [{ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "-0.1" }, {}, "SAMPLER_ARG"],
    [{}, { sampleRatio: 2 }, "tracing.sampleRatio"],
    [{}, { sampleRatio: Number.NaN }, "tracing.sampleRatio"],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "localhost:4318" }, {}, "OTEL_EXPORTER_OTLP_ENDPOINT"],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "ftp://x/" }, {}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
    [{ OTEL_TRACES_EXPORTER: "zipkin", OTEL_EXPORTER_ZIPKIN_ENDPOINT: "::" }, {}, "ZIPKIN"],
    [{}, { endpoint: "not a url" }, "tracing.endpoint"],
  ])("refuses %o %o with INVALID_TRACING_CONFIG naming %s", (env, options, setting) => {
    let thrown: unknown;
    try {
      settings(env, options);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigurationError);
    expect(thrown).toMatchObject({ code: "INVALID_TRACING_CONFIG", status: 500 });
    expect((thrown as Error).message).toMatch(/^Tracing: /);
    expect((thrown as Error).message).toContain(setting);
  });
});

// What a process prints and reports, run as its own Node process (the SDK is process-wide).
describe("the SDK in a process of its own", () => {
  it("prints the spans with OTEL_TRACES_EXPORTER=console", async () => {
    const out = await runWithout(
      [],
      `process.env.OTEL_TRACES_EXPORTER = "console";
      const { defineService, ServiceBroker } = await import("./src/index.ts");
      const broker = new ServiceBroker({ nodeID: "console", logger: false });
      broker.createService(defineService({ name: "math", actions: { add: { handler: () => 3 } } }));
      await broker.start();
      console.log("result", await broker.call("math.add", {}));
      await broker.stop();`,
    );
    expect(out).toContain("result 3");
    expect(out.match(/name: 'math\/add'/g)).toHaveLength(2);
    expect(out).toContain("'service.name': 'math'");
    expect(out).toContain("'rpc.method': 'add'");
    const traces = new Set([...out.matchAll(/traceId: '([0-9a-f]{32})'/g)].map((m) => m[1]));
    expect(traces.size).toBe(1);
  });

  // Each start tries another exporter, in one process: a failed install leaves nothing behind.
  const script = `const { defineService, ServiceBroker } = await import("./src/index.ts");
    for (const exporter of ["console", "zipkin", "otlp"]) {
      const broker = new ServiceBroker({ logger: false, tracing: { exporter, endpoint: "http://127.0.0.1:9/" } });
      broker.createService(defineService({ name: "math", actions: { add: { handler: () => 3 } } }));
      try {
        await broker.start();
        console.log(exporter, "started");
      } catch (err) {
        console.log(exporter, err.code, JSON.stringify(err.message));
      }
      await broker.stop();
    }`;

  it.each([
    ["@opentelemetry/sdk-trace-node", ["console", "zipkin", "otlp"]],
    ["@opentelemetry/resources", ["console", "zipkin", "otlp"]],
    ["@opentelemetry/exporter-zipkin", ["zipkin"]],
    ["@opentelemetry/exporter-trace-otlp-http", ["otlp"]],
  ])("without %s, says so with the npm install line when it is needed", async (pkg, needing) => {
    const out = await runWithout([pkg], script);
    for (const exporter of ["console", "zipkin", "otlp"]) {
      const line = out.split("\n").find((l) => l.startsWith(`${exporter} `));
      if (!needing.includes(exporter)) {
        expect(line).toBe(`${exporter} started`);
        continue;
      }
      expect(line).toMatch(new RegExp(`^${exporter} MISSING_DEPENDENCY `));
      const message = JSON.parse(line?.slice(`${exporter} MISSING_DEPENDENCY `.length) ?? "");
      expect(message).toContain(`needs the '${pkg}' package`);
      expect(message).toContain(`\nnpm install ${pkg}`);
    }
  });
});

describe("flotilla run", () => {
  it("names the OTEL_* variables in its help", () => {
    expect(globalHelp()).toContain("OTEL_TRACES_EXPORTER=otlp|zipkin|console");
  });

  it("prints spans with OTEL_TRACES_EXPORTER=console, and stops cleanly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-run-trace-"));
    const env = {
      ...process.env,
      FLOTILLA_TCP_DIR: dir,
      FLOTILLA_NAMESPACE: `run-trace-${process.pid}`,
      FLOTILLA_TRANSPORTER: "tcp://?udp=false",
      NO_COLOR: "1",
    };
    const node = await runNode(["test/cli/fixtures/math-add.ts"], "traced", {
      ...env,
      OTEL_TRACES_EXPORTER: "console",
    });
    try {
      expect(node.output()).toContain("Tracing: spans go to console as 'math'");
      const res = await flotilla(["call", "math.add", "--a", "2", "--b", "3"], { env });
      expect(res).toMatchObject({ code: 0, stdout: "5\n" });
      await node.waitFor("name: 'math/add'");
      expect(node.output()).toContain("'flotilla.caller_node'");
      expect(await node.stop()).toBe(0);
    } finally {
      node.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

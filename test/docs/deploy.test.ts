import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { defineService, ServiceBroker } from "../../src/index.js";
import { startHealthServer } from "../../src/observability/health-server.js";
import { freePort, requireServer, SHARED, until } from "../harness/index.js";

// docs/deploy.md promises that the files of examples/deploy run Flotilla on Kubernetes, Docker
// and VMs. Docker is not running on this machine and no registry is reachable, so the image is
// not built here. What is checked instead: the manifests against the Kubernetes schemas; their
// probes against Flotilla's real health server; their grace periods against the real drain; the
// Dockerfile's stages, copies and command against the repository; and the image's command, run in
// the image's layout with a pod's environment.

const root = fileURLToPath(new URL("../../", import.meta.url));
const deploy = join(root, "examples/deploy");
const read = (path: string) => readFileSync(join(root, path), "utf8");

/**
 * What the manifests budget after the drain: the services' `stopped` hooks, database pools and
 * the transporter's flush (docs/deploy.md, "Graceful stop"). Grace periods must cover it too.
 */
const STOP_AFTER_DRAIN_MS = 10_000;

// ---- The manifests ---------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, walked by the checks below
type Yaml = any;

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  object: Yaml;
}

const manifestFiles = readdirSync(join(deploy, "k8s"))
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => `examples/deploy/k8s/${f}`);

const manifests: Manifest[] = manifestFiles.flatMap((file) =>
  parseAllDocuments(read(file)).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    const object = doc.toJS();
    return { file, apiVersion: object.apiVersion, kind: object.kind, object };
  }),
);
const ofKind = (kind: string) => manifests.filter((m) => m.kind === kind);
const deployments = ofKind("Deployment");
const containersOf = (m: Manifest) => m.object.spec.template.spec.containers as Array<Yaml>;
const envOf = (container: Yaml, name: string) =>
  (container.env as Array<Yaml>).find((e) => e.name === name);

/** The port a probe's `port` names: a number, or the name of one of the container's ports. */
function probePort(container: Yaml, port: number | string): number | undefined {
  if (typeof port === "number") return port;
  return (container.ports as Array<Yaml>).find((p) => p.name === port)?.containerPort;
}

/** Seconds the kubelet waits in a preStop hook before SIGTERM: our hooks are `sleep N`. */
function preStopSeconds(container: Yaml): number {
  const hook = container.lifecycle?.preStop;
  if (hook === undefined) return 0;
  if (hook.sleep !== undefined) return Number(hook.sleep.seconds);
  const [command, seconds] = hook.exec.command as string[];
  expect(command).toBe("sleep");
  return Number(seconds);
}

// ---- The Dockerfile --------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string | undefined;
  base: string;
  instructions: Instruction[];
}

/** Stages and instructions, with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let pending = "";
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line) || (pending === "" && line.trim() === "")) continue;
    if (line.endsWith("\\")) pending += `${line.slice(0, -1)} `;
    else {
      logical.push(`${pending}${line}`.trim());
      pending = "";
    }
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const text of logical) {
    const [, op = "", rest = ""] = /^(\w+)\s+([\s\S]*)$/.exec(text) ?? [];
    if (op.toUpperCase() === "FROM") {
      const [, base = "", name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      const resolved = base.replace(/^\$\{(\w+)\}$/, (_, arg: string) => args.get(arg) ?? "");
      stages.push({ name, base: resolved, instructions: [] });
    } else if (stages.length === 0 && op.toUpperCase() === "ARG") {
      const [name = "", value = ""] = rest.split("=");
      args.set(name, value);
    } else stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args: rest });
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(read("examples/deploy/Dockerfile"));
const runtime = dockerfile.stages.at(-1)!;
const all = (stage: Stage, op: string) =>
  stage.instructions.filter((i) => i.op === op).map((i) => i.args);
const last = (stage: Stage, op: string) => all(stage, op).at(-1);

/** `COPY [--from=x] src... dest` */
function copies(
  stage: Stage,
): Array<{ from: string | undefined; sources: string[]; dest: string }> {
  return all(stage, "COPY").map((args) => {
    const words = args.split(/\s+/);
    const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
    const paths = words.filter((w) => !w.startsWith("--"));
    return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
  });
}

/** `ENV A=1 B=2` of a stage. */
function envOfStage(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of all(stage, "ENV")) {
    for (const pair of args.split(/\s+/)) {
      const at = pair.indexOf("=");
      env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  return env;
}

const workdir = last(runtime, "WORKDIR")!;
/** The repository path a path inside the image's WORKDIR was copied from. */
function sourceInRepo(pathInImage: string): string | undefined {
  for (const { from, sources, dest } of copies(runtime)) {
    if (from !== undefined || sources.length !== 1) continue;
    const target = relative(workdir, join(workdir, dest));
    if (pathInImage === target || pathInImage.startsWith(`${target}/`)) {
      return join(sources[0]!, relative(target, pathInImage));
    }
  }
  return undefined;
}

/** Docker's .dockerignore rules: the last rule that matches a path or a parent of it decides. */
function dockerIgnored(rules: string[], path: string): boolean {
  const parents = path.split("/").map((_, i, parts) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const rule of rules) {
    const negate = rule.startsWith("!");
    const pattern = (negate ? rule.slice(1) : rule).replace(/^\/|\/$/g, "");
    const source = pattern
      .split(/(\*\*\/|\*\*|\*|\?)/)
      .map((part) =>
        part === "**/"
          ? "(?:.*/)?"
          : part === "**"
            ? ".*"
            : part === "*"
              ? "[^/]*"
              : part === "?"
                ? "[^/]"
                : part.replace(/[.+^${}()|[\]\\]/g, "\\$&"),
      )
      .join("");
    const re = new RegExp(`^${source}$`);
    if (parents.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}

// ---- The drain, as a pod's grace period sees it ----------------------------------------------

let hungStop: Promise<number> | undefined;
/**
 * How long `broker.stop()` takes, in ms of a fake clock, while an event handler never finishes:
 * the drain gives up at drainTimeout, whatever it is, and the node stops. `flotilla run` sets no
 * drainTimeout unless told (`--drain-timeout`); the manifests do not, so every pod gets the default.
 */
function hungStopMs(): Promise<number> {
  hungStop ??= (async () => {
    let release = () => {};
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    const broker = new ServiceBroker({ nodeID: "hung", logger: false });
    broker.createService(
      defineService({ name: "slow", events: { "slow.work": { handler: () => hung } } }),
    );
    await broker.start();
    void Promise.resolve(broker.emit("slow.work", {})).catch(() => undefined);
    await until(() => broker.health().inFlight === 1, { message: "the handler to run" });
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "Date"] });
    try {
      const started = Date.now();
      let stoppedAt: number | undefined;
      const stopping = broker.stop().then(() => {
        stoppedAt = Date.now();
      });
      while (stoppedAt === undefined && Date.now() - started < 600_000) {
        await vi.advanceTimersByTimeAsync(50);
      }
      await stopping;
      return stoppedAt! - started;
    } finally {
      vi.useRealTimers();
      release();
    }
  })();
  return hungStop;
}

describe("Kubernetes manifests (examples/deploy/k8s)", () => {
  it("parse, and each object is valid against the Kubernetes schema of its kind", async () => {
    expect(manifestFiles.length).toBeGreaterThan(0);
    expect(deployments.length).toBeGreaterThanOrEqual(2);
    const invalid: string[] = [];
    for (const m of manifests) {
      const module = (await import(
        /* @vite-ignore */ `kubernetes-models/${m.apiVersion}/${m.kind}`
      )) as Record<string, new (data: unknown) => { validate(): void }>;
      const Model = module[m.kind]!;
      try {
        new Model(m.object).validate();
      } catch (err) {
        invalid.push(`${m.file} ${m.kind}/${m.object.metadata?.name}: ${String(err)}`);
      }
    }
    expect(invalid).toEqual([]);
  });

  it("name no field Kubernetes does not know (a typo the schemas would let pass)", () => {
    // The schemas allow unknown fields; the models' TypeScript types do not, in object literals.
    const lines = manifests.map(
      (m, i) =>
        `import type { I${m.kind} as T${i} } from "kubernetes-models/${m.apiVersion}/${m.kind}";\n` +
        `export const o${i}: T${i} = ${JSON.stringify(m.object)};`,
    );
    const file = join(root, "test/docs/deploy-manifests.generated.ts");
    const code = lines.join("\n");
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: [],
    };
    const host = ts.createCompilerHost(options);
    const { getSourceFile, fileExists, readFile } = host;
    host.getSourceFile = (name, ...rest) =>
      name === file
        ? ts.createSourceFile(name, code, ts.ScriptTarget.ES2022)
        : getSourceFile.call(host, name, ...rest);
    host.fileExists = (name) => name === file || fileExists.call(host, name);
    host.readFile = (name) => (name === file ? code : readFile.call(host, name));
    const program = ts.createProgram([file], options, host);
    const source = program.getSourceFile(file)!;
    const errors = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ].map((d) => {
      const line = source.getLineAndCharacterOfPosition(d.start ?? 0).line;
      const m = manifests[Math.floor(line / 2)];
      const text = ts.flattenDiagnosticMessageText(d.messageText, " ");
      return `${m?.file} ${m?.kind}/${m?.object.metadata?.name}: ${text}`;
    });
    expect(errors).toEqual([]);
  }, 60_000);

  it("point at each other: selectors, budgets, the Service, the Ingress, the ConfigMap", () => {
    const configMaps = new Set(ofKind("ConfigMap").map((m) => m.object.metadata.name));
    for (const d of deployments) {
      const { selector, template } = d.object.spec;
      expect(template.metadata.labels, d.file).toMatchObject(selector.matchLabels);
      const budgets = ofKind("PodDisruptionBudget").filter((p) =>
        Object.entries(p.object.spec.selector.matchLabels).every(
          ([k, v]) => template.metadata.labels[k] === v,
        ),
      );
      expect(budgets.length, `${d.file}: one PodDisruptionBudget`).toBe(1);
      for (const c of containersOf(d)) {
        for (const from of c.envFrom ?? []) expect(configMaps).toContain(from.configMapRef.name);
      }
    }
    for (const service of ofKind("Service")) {
      const targets = deployments.filter((d) =>
        Object.entries(service.object.spec.selector).every(
          ([k, v]) => d.object.spec.template.metadata.labels[k] === v,
        ),
      );
      expect(targets.length, service.file).toBe(1);
      const ports = containersOf(targets[0]!).flatMap((c) => c.ports);
      for (const port of service.object.spec.ports) {
        expect(ports.map((p) => p.name)).toContain(port.targetPort);
      }
    }
    for (const ingress of ofKind("Ingress")) {
      for (const rule of ingress.object.spec.rules) {
        for (const path of rule.http.paths) {
          const { name, port } = path.backend.service;
          const service = ofKind("Service").find((s) => s.object.metadata.name === name);
          expect(service?.object.spec.ports.map((p: { name: string }) => p.name)).toContain(
            port.name,
          );
        }
      }
    }
  });

  it("run each pod as a non-root user, on a read-only root, with requests and limits", () => {
    for (const d of deployments) {
      const pod = d.object.spec.template.spec;
      expect(pod.securityContext, d.file).toMatchObject({ runAsNonRoot: true });
      expect(pod.securityContext.runAsUser, d.file).toBeGreaterThan(0);
      for (const c of containersOf(d)) {
        expect(c.securityContext, d.file).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        });
        for (const kind of ["requests", "limits"]) {
          expect(Object.keys(c.resources[kind]).sort(), `${d.file} ${kind}`).toEqual([
            "cpu",
            "memory",
          ]);
        }
      }
    }
  });

  it("name each node after its pod and run a service file the image holds", () => {
    for (const d of deployments) {
      for (const c of containersOf(d)) {
        expect(envOf(c, "FLOTILLA_NODE_ID")?.valueFrom?.fieldRef?.fieldPath, d.file).toBe(
          "metadata.name",
        );
        expect(envOf(c, "FLOTILLA_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath, d.file).toBe(
          "metadata.namespace",
        );
        const service = sourceInRepo(c.args[0]);
        expect(service, `${d.file}: ${c.args[0]} is copied into the image`).toBeDefined();
        expect(existsSync(join(root, service!)), service).toBe(true);
      }
    }
    const [config] = ofKind("ConfigMap");
    // The message broker by the DNS name of its Service, in a namespace of its own.
    expect(config?.object.data.FLOTILLA_TRANSPORTER).toMatch(
      /^nats:\/\/[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local:4222$/,
    );
    expect(read("examples/deploy/k8s/config.yaml")).toMatch(/FLOTILLA_DISCOVERY: "etcd:\/\//);
  });

  it("probe the port the container serves its health on", () => {
    for (const d of deployments) {
      for (const c of containersOf(d)) {
        const healthPort = Number(envOf(c, "FLOTILLA_HEALTH_PORT")?.value);
        for (const probe of [c.livenessProbe, c.readinessProbe]) {
          expect(probe.httpGet.scheme ?? "HTTP", d.file).toBe("HTTP");
          expect(probePort(c, probe.httpGet.port), d.file).toBe(healthPort);
        }
        expect(d.object.spec.template.metadata.annotations["prometheus.io/port"]).toBe(
          String(healthPort),
        );
      }
    }
  });
});

describe("the manifests' probes, against Flotilla's health server", () => {
  // Kubernetes counts an HTTP probe as passed on a status from 200 to 399.
  const passes = async (port: number, path: string) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    await response.arrayBuffer();
    return response.status >= 200 && response.status < 400;
  };
  const pairs = [
    ...new Set(
      deployments.flatMap((d) =>
        containersOf(d).map((c) =>
          JSON.stringify([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path]),
        ),
      ),
    ),
  ].map((pair) => JSON.parse(pair) as [string, string]);

  /** A node with a handler that runs until released, its probes served as `flotilla run` does. */
  async function probedNode(name: string) {
    let release = () => {};
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    const broker = new ServiceBroker({
      nodeID: name,
      namespace: `deploy-${process.pid}-${name}`,
      transporter: "memory://",
      logger: false,
    });
    broker.createService(
      defineService({ name: "work", events: { "work.hang": { handler: () => hung } } }),
    );
    const port = await freePort();
    const server = await startHealthServer(broker, { port, host: "127.0.0.1" });
    const close = async () => {
      release();
      await broker.stop();
      await new Promise((done) => server.close(done));
    };
    return { broker, port, release: () => release(), close };
  }

  it.each(pairs)(
    "%s and %s: a starting node is alive but not ready; a started one is both",
    async (live, ready) => {
      const node = await probedNode("starting");
      try {
        expect(await passes(node.port, live)).toBe(true);
        expect(await passes(node.port, ready)).toBe(false);
        await node.broker.start();
        expect(await passes(node.port, live)).toBe(true);
        expect(await passes(node.port, ready)).toBe(true);
      } finally {
        await node.close();
      }
    },
  );

  it.each(pairs)("%s and %s: a draining node stays alive but is not ready", async (live, ready) => {
    const node = await probedNode("draining");
    try {
      await node.broker.start();
      void Promise.resolve(node.broker.emit("work.hang", {})).catch(() => undefined);
      await until(() => node.broker.health().inFlight === 1, { message: "the handler to run" });
      const stopping = node.broker.stop();
      expect(node.broker.state).toBe("stopping");
      // Liveness must pass while draining, or the kubelet would kill the pod mid-drain.
      expect(await passes(node.port, live)).toBe(true);
      expect(await passes(node.port, ready)).toBe(false);
      node.release();
      await stopping;
      expect(await passes(node.port, ready)).toBe(false);
      expect(await passes(node.port, live)).toBe(false);
    } finally {
      await node.close();
    }
  });

  it("every grace period outlasts preStop, the drain and the stop after it", async () => {
    const stop = await hungStopMs();
    // The drain gives up at drainTimeout (10 s by default); the stop follows at once.
    expect(stop).toBeGreaterThanOrEqual(1_000);
    for (const d of deployments) {
      const grace = d.object.spec.template.spec.terminationGracePeriodSeconds * 1000;
      for (const c of containersOf(d)) {
        const budget = preStopSeconds(c) * 1000 + stop + STOP_AFTER_DRAIN_MS;
        expect(grace, `${d.file}: grace ${grace} ms, needs ${budget} ms`).toBeGreaterThanOrEqual(
          budget,
        );
      }
    }
  });
});

describe("the image (examples/deploy/Dockerfile)", () => {
  it("builds Flotilla with npm ci and its TypeScript build, and runs on the same base", () => {
    const [framework, deps] = dockerfile.stages;
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(3);
    expect(all(framework!, "RUN").join("\n")).toMatch(/npm ci\b/);
    expect(all(framework!, "RUN").join("\n")).toMatch(/npm run build\b/);
    expect(all(deps!, "RUN").join("\n")).toMatch(/--omit=dev/);
    // Native addons (better-sqlite3) are built in `deps` for the C library of the runtime's base.
    expect(new Set(dockerfile.stages.map((s) => s.base)).size).toBe(1);
    expect(runtime.base).toMatch(/^node:\d+/);
    expect(Number(/^node:(\d+)/.exec(runtime.base)?.[1])).toBeGreaterThanOrEqual(22);
  });

  it("runs as a non-root user with NODE_ENV=production, the health port exposed and checked", () => {
    const user = last(runtime, "USER");
    expect(user).toBeDefined();
    expect(["root", "0"]).not.toContain(user!.split(":")[0]);
    const env = envOfStage(runtime);
    expect(env.NODE_ENV).toBe("production");
    expect(all(runtime, "EXPOSE").join(" ").split(/\s+/)).toContain(env.FLOTILLA_HEALTH_PORT);
    expect(last(runtime, "HEALTHCHECK")).toMatch(/\/health\/(ready|live)/);
    // Exec form: node is PID 1 and receives SIGTERM itself, not a shell that swallows it.
    expect(() => JSON.parse(last(runtime, "ENTRYPOINT")!)).not.toThrow();
    expect(() => JSON.parse(last(runtime, "CMD")!)).not.toThrow();
  });

  it("copies only paths that exist and that its .dockerignore lets through", () => {
    const rules = read("examples/deploy/Dockerfile.dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    const sources = dockerfile.stages.flatMap((s) =>
      copies(s)
        .filter((c) => c.from === undefined)
        .flatMap((c) => c.sources),
    );
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect(existsSync(join(root, source)), `${source} exists`).toBe(true);
      expect(dockerIgnored(rules, source), `${source} is sent to the builder`).toBe(false);
    }
    for (const kept of [
      ".git",
      "node_modules",
      "dist",
      "test",
      ".env",
      ".data/shop/users.sqlite",
    ]) {
      expect(dockerIgnored(rules, kept), `${kept} stays out`).toBe(true);
    }
    expect(dockerIgnored(rules, "examples/shop/services/.data/orders.sqlite")).toBe(true);
    expect(dockerIgnored(rules, "examples/shop/services/orders/service.ts")).toBe(false);
  });

  it("starts files that `npm run build` makes and the package ships", async () => {
    const entry = JSON.parse(last(runtime, "ENTRYPOINT")!) as string[];
    expect(entry[0]).toBe("node");
    const script = entry[1]!;
    const [, packageDir, inPackage] = /^node_modules\/([^/]+)\/(.+)$/.exec(script) ?? [];
    expect(packageDir).toBe("flotilla");
    // bin/flotilla.js imports the compiled CLI, which tsconfig.build.json makes from src/.
    const bin = read(inPackage!);
    const compiled = /from "\.\.\/(dist\/[^"]+)"/.exec(bin)?.[1];
    expect(compiled).toBe("dist/cli/index.js");
    const build = JSON.parse(read("tsconfig.build.json")) as {
      compilerOptions: Record<string, string>;
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: "src", outDir: "dist" });
    expect(existsSync(join(root, "src/cli/index.ts"))).toBe(true);
    const { stdout } = await promisify(execFile)(
      "npm",
      ["pack", "--dry-run", "--json", "--ignore-scripts"],
      { cwd: root },
    );
    const [packed] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
    const files = packed!.files.map((f) => f.path);
    expect(files).toContain(inPackage);
    expect(files).toContain(compiled);
  }, 60_000);

  it("installs every package the shop imports, at the versions this repository tests", () => {
    const app = JSON.parse(read("examples/deploy/shop/package.json")) as {
      type: string;
      dependencies: Record<string, string>;
    };
    expect(app.type).toBe("module");
    const lock = JSON.parse(read("package-lock.json")) as {
      packages: Record<string, { version: string }>;
    };
    const imported = new Set<string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith(".ts")) {
          for (const { fileName: spec } of ts.preProcessFile(read(path)).importedFiles) {
            if (spec.startsWith(".") || spec.startsWith("node:")) continue;
            const parts = spec.split("/");
            imported.add(spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!);
          }
        }
      }
    };
    for (const dir of ["examples/shop/services", "examples/shop/shared", "examples/shop/gateway"]) {
      walk(dir);
    }
    expect(imported.size).toBeGreaterThan(3);
    for (const name of imported) expect(Object.keys(app.dependencies)).toContain(name);
    for (const [name, version] of Object.entries(app.dependencies)) {
      if (name === "flotilla") continue;
      expect(version, name).toBe(lock.packages[`node_modules/${name}`]?.version);
    }
    // The drivers the pods load by URL: PostgreSQL, NATS with JetStream.
    for (const driver of ["pg", "@nats-io/transport-node", "@nats-io/jetstream"]) {
      expect(Object.keys(app.dependencies)).toContain(driver);
    }
  });
});

describe("the image's command in the image's layout, with the orders pod's environment", () => {
  let app = "";
  let child: ChildProcess | undefined;
  beforeAll(() => requireServer("nats"));
  afterAll(() => {
    child?.kill("SIGKILL");
    if (app !== "") rmSync(app, { recursive: true, force: true });
  });

  /** /app as the runtime stage builds it: the copied services and the `deps` stage's install. */
  function layout(): string {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-image-"));
    const appPackage = "examples/deploy/shop/package.json";
    const deps = dockerfile.stages.find((s) => s.name === "deps")!;
    expect(copies(deps).some((c) => c.sources.includes(appPackage))).toBe(true);
    for (const { from, sources, dest } of copies(runtime)) {
      const target = join(dir, relative(workdir, join(workdir, dest)));
      if (from === "deps" && sources[0] === "/app/package.json") {
        cpSync(join(root, appPackage), join(target, "package.json"));
      } else if (from === "deps" && sources[0] === "/app/node_modules") {
        // What `npm install` puts there: the app's dependencies, Flotilla being this checkout.
        const { dependencies } = JSON.parse(read(appPackage)) as {
          dependencies: Record<string, string>;
        };
        for (const name of Object.keys(dependencies)) {
          const link = join(target, name);
          mkdirSync(dirname(link), { recursive: true });
          symlinkSync(name === "flotilla" ? root : join(root, "node_modules", name), link, "dir");
        }
      } else {
        expect(from, `COPY ${sources.join(" ")} ${dest}`).toBeUndefined();
        cpSync(join(root, sources[0]!), target, { recursive: true });
      }
    }
    return dir;
  }

  it("serves the probes the manifest names, as the pod's node, and exits 0 on SIGTERM", async () => {
    app = layout();
    const orders = deployments.find((d) => d.object.metadata.name === "orders")!;
    const container = containersOf(orders)[0]!;
    const [config] = ofKind("ConfigMap");
    const podName = "orders-5d8f7c9b4-x7k2p";
    const healthPort = await freePort();
    const secret = join(app, "cluster-secret");
    writeFileSync(secret, "a-cluster-secret-of-32-bytes-ok!");
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: app,
      ...envOfStage(runtime),
      ...(config!.object.data as Record<string, string>),
    };
    for (const e of container.env as Array<Yaml>) {
      if (e.value !== undefined) env[e.name] = e.value;
      const field = e.valueFrom?.fieldRef?.fieldPath;
      if (field === "metadata.name") env[e.name] = podName;
      if (field === "metadata.namespace") env[e.name] = `deploy-test-${process.pid}`;
    }
    // This machine instead of the cluster: its NATS, a free port, a file for the mounted secret,
    // SQLite in a folder instead of the PostgreSQL named by the Secret.
    Object.assign(env, {
      FLOTILLA_TRANSPORTER: SHARED.nats.url,
      FLOTILLA_HEALTH_PORT: String(healthPort),
      FLOTILLA_SECRET_FILE: secret,
      FLOTILLA_DATA_DIR: join(app, "data"),
    });
    mkdirSync(env.FLOTILLA_DATA_DIR!);
    const entry = JSON.parse(last(runtime, "ENTRYPOINT")!) as string[];
    const argv = [...entry, ...(container.args as string[])];
    expect(argv[0]).toBe("node");
    const started = spawn(process.execPath, argv.slice(1), { cwd: app, env, stdio: "pipe" });
    child = started;
    let output = "";
    started.stdout?.on("data", (d: Buffer) => {
      output += d;
    });
    started.stderr?.on("data", (d: Buffer) => {
      output += d;
    });
    const exited = new Promise<number | null>((resolve) => started.on("exit", resolve));
    const get = (path: string) =>
      fetch(`http://127.0.0.1:${healthPort}${path}`).catch(() => undefined);

    const ready = await until(
      async () => {
        if (started.exitCode !== null) throw new Error(`exited ${started.exitCode}: ${output}`);
        const response = await get(container.readinessProbe.httpGet.path);
        return response?.status === 200 && ((await response.json()) as { nodeID: string });
      },
      { timeout: 30_000, message: "the orders node to be ready" },
    );
    expect(ready.nodeID).toBe(podName);
    expect((await get(container.livenessProbe.httpGet.path))?.status).toBe(200);
    const metrics = orders.object.spec.template.metadata.annotations["prometheus.io/path"];
    expect((await get(metrics))?.status).toBe(200);
    // The image's HEALTHCHECK, run as Docker would inside the container.
    const check = /\bCMD\s+(\[.*\])$/s.exec(last(runtime, "HEALTHCHECK")!)?.[1];
    const healthcheck = JSON.parse(check!) as string[];
    await expect(
      promisify(execFile)(process.execPath, healthcheck.slice(1), { env }),
    ).resolves.toBeDefined();

    started.kill("SIGTERM");
    expect(await exited, output).toBe(0);
  }, 60_000);
});

describe("compose and systemd (examples/deploy)", () => {
  it("compose: each service runs a file of the image, with a stop grace past the drain", async () => {
    const compose = parseYaml(read("examples/deploy/compose.yaml"), { merge: true }) as {
      services: Record<string, Yaml>;
    };
    const stop = await hungStopMs();
    const apps = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
    expect(apps.length).toBeGreaterThanOrEqual(5);
    for (const [name, service] of apps) {
      expect(service.build.dockerfile).toBe("examples/deploy/Dockerfile");
      expect(statSync(join(deploy, service.build.context)).isDirectory()).toBe(true);
      expect(join(deploy, service.build.context)).toBe(root.replace(/\/$/, ""));
      const file = sourceInRepo(service.command[0]);
      expect(file && existsSync(join(root, file)), `${name}: ${service.command[0]}`).toBe(true);
      const [, seconds] = /^(\d+)s$/.exec(service.stop_grace_period) ?? [];
      expect(Number(seconds) * 1000, name).toBeGreaterThanOrEqual(stop + STOP_AFTER_DRAIN_MS);
      expect(service.environment.FLOTILLA_TRANSPORTER, name).toBe("nats://nats:4222");
    }
  });

  it("systemd: the unit runs a service of the app's layout and waits past the drain", async () => {
    const unit = read("examples/deploy/systemd/flotilla@.service");
    const setting = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(unit)?.[1];
    const stop = await hungStopMs();
    expect(Number(setting("TimeoutStopSec")) * 1000).toBeGreaterThanOrEqual(
      stop + STOP_AFTER_DRAIN_MS,
    );
    expect(setting("KillSignal")).toBe("SIGTERM");
    const entry = JSON.parse(last(runtime, "ENTRYPOINT")!) as string[];
    const exec = setting("ExecStart")!.split(" ");
    expect(exec.slice(1, 1 + entry.length - 1)).toEqual(entry.slice(1));
    const file = exec.at(-1)!.replace("%i", "orders");
    expect(existsSync(join(root, sourceInRepo(file)!))).toBe(true);
  });
});

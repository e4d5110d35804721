import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Context,
  defineService,
  FlotillaError,
  NamekoRemoteError,
  namekoBridge,
  ServiceBroker,
} from "../../../src/index.js";
import { requireServer, until } from "../../harness/index.js";
import { AMQP_URL, deleteAll, rejection } from "./peer.js";

// Against the real nameko 2.x (`nameko run` from a source tree): runs only when NAMEKO_SRC names
// that tree (e.g. NAMEKO_SRC=/tmp/nameko-src), with Debian's python3-eventlet, -kombu,
// -werkzeug, -wrapt, -yaml, -mock, -packaging and -path installed. nameko is not packaged in
// Debian or npm, so `npm test` runs the kombu peer (rpc.test.ts, events.test.ts) instead.

const NAMEKO_SRC = process.env.NAMEKO_SRC;
const suffix = randomBytes(4).toString("hex");
const GREETER = `rgreeter_${suffix}`;
const ORDERS = `orders_${suffix}`;
const here = fileURLToPath(new URL(".", import.meta.url));

const received: { kind: string; name: unknown }[] = [];
const fromNameko: { kind: string; data: unknown }[] = [];
const record = (kind: string) => (ctx: Context) => {
  received.push({ kind, name: ctx.params.name });
};

const orders = defineService({
  name: ORDERS,
  actions: {
    place: {
      handler: (ctx) => ({
        item: ctx.params.item,
        user: (ctx.meta.nameko as { user_id?: string })?.user_id ?? null,
      }),
    },
    fail: {
      handler() {
        throw new FlotillaError("Out of stock", "OUT_OF_STOCK", 409);
      },
    },
  },
});
const listeners = [
  defineService({
    name: `rpool_${suffix}`,
    events: { [`${GREETER}.greeted`]: { handler: record("balanced") } },
  }),
  defineService({
    name: `rsingle_${suffix}`,
    events: { [`${GREETER}.greeted`]: { kind: "single", handler: record("single") } },
  }),
  defineService({
    name: `rbcast_${suffix}`,
    events: { [`${GREETER}.greeted`]: { kind: "broadcast", handler: record("broadcast") } },
  }),
];

let nameko: ChildProcess | undefined;
let broker: ServiceBroker;
let dir = "";
const stderr: string[] = [];

function pythonEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SUFFIX: suffix,
    PYTHONPATH: [NAMEKO_SRC, join(dir, "meta"), here].join(":"),
  };
}

describe.skipIf(NAMEKO_SRC === undefined)("the real nameko (NAMEKO_SRC set)", () => {
  beforeAll(async () => {
    await requireServer("rabbitmq");
    // `nameko run` asks pkg_resources for its own version: a source tree needs its metadata.
    dir = mkdtempSync(join(tmpdir(), "flotilla-nameko-"));
    mkdirSync(join(dir, "meta", "nameko-2.14.1.egg-info"), { recursive: true });
    writeFileSync(
      join(dir, "meta", "nameko-2.14.1.egg-info", "PKG-INFO"),
      "Metadata-Version: 2.1\nName: nameko\nVersion: 2.14.1\n",
    );
    writeFileSync(join(dir, "config.yaml"), `AMQP_URI: '${AMQP_URL}'\n`);
    broker = new ServiceBroker({ nodeID: `real-nameko-${suffix}`, logger: false });
    broker.createService(orders);
    for (const l of listeners) broker.createService(l);
    namekoBridge(broker, { url: AMQP_URL, services: [GREETER] });
    await broker.start();
    nameko = spawn(
      "/usr/bin/python3",
      ["-m", "nameko", "run", "real_service", "--config", join(dir, "config.yaml")],
      { cwd: here, env: pythonEnv() },
    );
    nameko.stderr?.on("data", (c: Buffer) => stderr.push(c.toString()));
    createInterface({ input: nameko.stdout! }).on("line", (line) => {
      if (line.startsWith("{")) fromNameko.push(JSON.parse(line));
    });
    await until(
      async () =>
        (await broker.call(`${GREETER}.hello`, { name: "x" }).catch(() => undefined)) !== undefined,
      {
        timeout: 30_000,
        interval: 200,
        message: `nameko run to serve ${GREETER} (stderr: ${stderr.join("")})`,
      },
    );
  }, 60_000);

  afterAll(async () => {
    nameko?.kill("SIGTERM");
    if (nameko !== undefined && nameko.exitCode === null)
      await new Promise((r) => nameko?.once("exit", r));
    await broker?.stop();
    const handlers = ["on_created_pool"].map((m) => `evt-${ORDERS}-created--${GREETER}.${m}`);
    const ours = [ORDERS, ...listeners.map((l) => l.name)];
    await deleteAll(
      [
        `rpc-${GREETER}`,
        `evt-${ORDERS}-created`,
        `evt-${GREETER}-greeted`,
        `evt-${GREETER}-greeted--rpool_${suffix}.handle_greeted`,
        ...handlers,
        ...ours.map((s) => `rpc-${s}`),
      ],
      [`${GREETER}.events`, `${ORDERS}.events`],
    );
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("Flotilla calls nameko: results, Python exceptions, MethodNotFound", async () => {
    await expect(broker.call(`${GREETER}.hello`, { name: "Ada" })).resolves.toBe("Hello, Ada!");
    const err = await rejection(broker.call(`${GREETER}.fail`, { text: "no tea" }));
    expect(err).toBeInstanceOf(NamekoRemoteError);
    expect(err.data).toMatchObject({ excType: "ValueError", excPath: "builtins.ValueError" });
    const missing = await rejection(broker.call(`${GREETER}.nope`, {}));
    expect(missing.data).toMatchObject({ excType: "MethodNotFound" });
    const wrong = await rejection(broker.call(`${GREETER}.hello`, { nom: "x" }));
    expect(wrong.data).toMatchObject({ excType: "IncorrectSignature" });
  });

  it("nameko calls Flotilla: from a service's RpcProxy and from ClusterRpcProxy", async () => {
    await expect(broker.call(`${GREETER}.place_via_flotilla`, { item: "tea" })).resolves.toEqual({
      item: "tea",
      user: null,
    });
    await expect(broker.call(`${GREETER}.fail_via_flotilla`, {})).resolves.toEqual({
      type: "RemoteError",
      exc_type: "OUT_OF_STOCK",
      value: "Out of stock",
    });
    const { stdout } = await promisify(execFile)(
      "/usr/bin/python3",
      [join(here, "real_client.py"), AMQP_URL, suffix],
      { env: pythonEnv(), timeout: 30_000 },
    );
    expect(JSON.parse(stdout)).toEqual({
      placed: { item: "tea", user: "py-user" },
      failed: { exc_type: "OUT_OF_STOCK", value: "Out of stock" },
    });
  });

  it("events cross both ways with each handler type", async () => {
    await broker.emit(`${ORDERS}.created`, { id: 7 });
    await until(() => fromNameko.length >= 3, {
      timeout: 10_000,
      message: "three nameko handlers",
    });
    expect(fromNameko.map((e) => e.kind).sort()).toEqual([
      "broadcast",
      "service_pool",
      "singleton",
    ]);
    await broker.call(`${GREETER}.greet`, { name: "Ada" });
    await until(() => received.length >= 3, {
      timeout: 10_000,
      message: "three Flotilla handlers",
    });
    expect(received.map((e) => e.kind).sort()).toEqual(["balanced", "broadcast", "single"]);
  });
});

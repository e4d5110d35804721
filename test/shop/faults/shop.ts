// The shop for the fault tests: each service a process of its own (`flotilla run <file>
// --node-id <name>`, as examples/shop/start.ts runs them) over tcp:// (or another transporter)
// with its SQLite file, a client node in the test that calls them, SIGKILL and restart of one
// service, and plain reads of a service's SQLite file. Each shop has its own namespace,
// rendezvous folder, data folder and SMTP port.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { ServiceBroker } from "flotilla";
import { freePort, until } from "../../harness/index.js";

const repo = (file: string) => fileURLToPath(new URL(`../../../${file}`, import.meta.url));
const cli = repo("bin/flotilla.js");

/** The processes of a shop (no gateway, no users: the checkout needs neither). */
export const SHOP_NODES = ["mailbox", "products", "coupons", "orders", "email"] as const;
export type ShopNode = (typeof SHOP_NODES)[number];

/**
 * A service's module: the shop's own, or (products) one whose `confirm` never answers, or
 * (email) one whose `orders.created` handler never finishes.
 */
const FILES: Record<ShopNode | "paused-products" | "holding-email", string> = {
  mailbox: repo("examples/shop/services/mailbox/service.ts"),
  products: repo("examples/shop/services/products/service.ts"),
  coupons: repo("examples/shop/services/coupons/service.ts"),
  orders: repo("examples/shop/services/orders/service.ts"),
  email: repo("examples/shop/services/email/service.ts"),
  "paused-products": fileURLToPath(new URL("./paused-products.ts", import.meta.url)),
  "holding-email": fileURLToPath(new URL("./holding-email.ts", import.meta.url)),
};

/** One service process: its log lines (JSON), the nodes it sees, SIGKILL. */
export class NodeProcess {
  readonly logs: string[] = [];
  /** Nodes whose INFO this one has, from its `Node 'x' connected` / `lost` / `left` logs. */
  readonly peers = new Set<string>();
  started = false;
  exited = false;
  readonly #exit: Promise<void>;

  constructor(
    readonly name: ShopNode,
    readonly child: ChildProcess,
  ) {
    this.#exit = new Promise((resolve) =>
      child.once("exit", () => {
        this.exited = true;
        resolve();
      }),
    );
    createInterface({ input: child.stdout! }).on("line", (line) => this.#read(line));
    createInterface({ input: child.stderr! }).on("line", (line) => this.logs.push(line));
  }

  #read(line: string): void {
    this.logs.push(line);
    let msg = "";
    try {
      msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? "");
    } catch {
      return; // not a log line (the paused products' own lines)
    }
    const peer = /^Node '(.+)' (connected|lost|left)$/.exec(msg);
    if (peer?.[2] === "connected") this.peers.add(peer[1]!);
    else if (peer !== null) this.peers.delete(peer[1]!);
    if (msg.startsWith(`Node '${this.name}' started`)) this.started = true;
  }

  /** SIGKILL: no goodbye, nothing flushed; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.exited) this.child.kill("SIGKILL");
    await this.#exit;
  }

  /** The last lines it wrote, for a failure message. */
  tail(n = 15): string {
    return `--- ${this.name} ---\n${this.logs.slice(-n).join("\n")}`;
  }
}

/** A running shop: its processes by name, and a client node on the same namespace. */
export class FaultShop {
  readonly nodes = new Map<ShopNode, NodeProcess>();
  readonly client: ServiceBroker;
  readonly #env: NodeJS.ProcessEnv;

  private constructor(
    readonly dataDir: string,
    readonly namespace: string,
    tcpDir: string,
    smtpPort: number,
    readonly transporter: string,
  ) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Nothing of the caller's shop or cluster settings.
    for (const name of Object.keys(env)) {
      if (/^(FLOTILLA_|SHOP_|SMTP_URL$)/.test(name)) delete env[name];
    }
    this.#env = {
      ...env,
      FLOTILLA_NAMESPACE: namespace,
      FLOTILLA_TRANSPORTER: transporter,
      FLOTILLA_TCP_DIR: tcpDir,
      FLOTILLA_DATA_DIR: dataDir,
      FLOTILLA_LOG_LEVEL: "info",
      SHOP_SEED: "0",
      SHOP_JWT_SECRET: "fault-tests-secret",
      SHOP_SMTP_PORT: String(smtpPort),
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      // As start.ts: "flotilla" is dist/ for the CLI and the services alike.
      TSX_TSCONFIG_PATH: repo("tsconfig.build.json"),
    };
    this.client = new ServiceBroker({
      nodeID: "fault-client",
      namespace,
      transporter: transporter.startsWith("tcp:")
        ? `${transporter}${transporter.includes("?") ? "&" : "?"}dir=${encodeURIComponent(tcpDir)}`
        : transporter,
      logger: false,
    });
  }

  /**
   * Starts every service (`paused` products: see paused-products.ts; `holding` email: see
   * holding-email.ts) in `root/<namespace>`, and the client; resolves once every process sees
   * every other one.
   */
  static async start(
    root: string,
    namespace: string,
    options: {
      pausedProducts?: boolean;
      holdingEmail?: boolean;
      env?: NodeJS.ProcessEnv;
      transporter?: string;
    } = {},
  ): Promise<FaultShop> {
    const dir = join(root, namespace);
    mkdirSync(join(dir, "data"), { recursive: true });
    mkdirSync(join(dir, "tcp"), { recursive: true });
    const transporter = options.transporter ?? "tcp://?udp=false";
    const port = await freePort();
    const shop = new FaultShop(join(dir, "data"), namespace, join(dir, "tcp"), port, transporter);
    await shop.client.start();
    for (const name of SHOP_NODES) {
      const file =
        name === "products" && options.pausedProducts
          ? "paused-products"
          : name === "email" && options.holdingEmail
            ? "holding-email"
            : name;
      shop.run(name, file, options.env);
    }
    await shop.ready().catch(async (err: unknown) => {
      await shop.stop();
      throw err;
    });
    return shop;
  }

  /** Spawns `name` (from `file`), with extra environment variables. */
  run(name: ShopNode, file: keyof typeof FILES = name, env: NodeJS.ProcessEnv = {}): NodeProcess {
    const child = spawn(process.execPath, [cli, "run", FILES[file], "--node-id", name], {
      cwd: repo(""),
      env: { ...this.#env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const node = new NodeProcess(name, child);
    this.nodes.set(name, node);
    return node;
  }

  node(name: ShopNode): NodeProcess {
    const node = this.nodes.get(name);
    if (node === undefined) throw new Error(`no ${name} process`);
    return node;
  }

  /** SIGKILLs `name`; resolves once every other process and the client saw it go. */
  async kill(name: ShopNode): Promise<void> {
    await this.node(name).kill();
    // Elsewhere than on tcp:// a killed node is noticed when its heartbeats stop.
    if (!this.transporter.startsWith("tcp:")) return;
    const others = [...this.nodes.values()].filter((n) => n.name !== name);
    await until(
      () => !this.client.registry.isAvailable(name) && others.every((n) => !n.peers.has(name)),
      { timeout: 10_000, message: `every node to see ${name} gone` },
    );
  }

  /** Starts `name` again (the shop's own module) and waits until everyone sees it. */
  async restart(name: ShopNode, env: NodeJS.ProcessEnv = {}): Promise<void> {
    this.run(name, name, env);
    await this.ready();
  }

  /**
   * Resolves once every process started, sees every other one (its INFO arrived: calls and
   * events reach it) and the client sees every service; fails early when one exits.
   */
  async ready(timeout = 60_000): Promise<void> {
    const nodes = [...this.nodes.values()];
    await until(
      () => {
        const dead = nodes.find((n) => n.exited);
        if (dead !== undefined) throw new Error(`${dead.name} exited\n${dead.tail()}`);
        return nodes.every(
          (n) =>
            n.started &&
            this.client.registry.isAvailable(n.name) &&
            nodes.every((o) => o === n || n.peers.has(o.name)),
        );
      },
      { timeout, message: "every shop process up and seeing the others" },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${nodes.map((n) => n.tail(5)).join("\n")}`);
    });
  }

  /** Rows of a query on `service`'s SQLite file (read beside the running writer). */
  rows<T>(service: ShopNode, query: string, ...params: unknown[]): T[] {
    const db = new Database(join(this.dataDir, `${service}.sqlite`), {
      readonly: true,
      fileMustExist: true,
      timeout: 10_000,
    });
    try {
      return db.prepare(query).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  /** Stops the client and SIGKILLs every process (the data folder goes with the test root). */
  async stop(): Promise<void> {
    await this.client.stop().catch(() => undefined);
    await Promise.all([...this.nodes.values()].map((n) => n.kill()));
  }
}

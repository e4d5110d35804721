import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, reachable } from "../servers.js";
import { until } from "../until.js";
import {
  type Layout,
  type PrivateServerKind,
  type PrivateServerOptions,
  recipes,
} from "./recipes.js";

/**
 * A nats-server, redis-server or RabbitMQ node of the test's own: free ports, its own temporary
 * directory (data, config, logs), and a fixed port across restarts so clients find it again. The
 * shared servers on 4222 / 6379 / 5672 are never touched. `stopAll()` in `afterAll` ends and
 * removes whatever is left; should the test process exit first, the server is killed with it.
 *
 * @example
 * ```ts
 * const nats = await PrivateServer.start("nats", { jetstream: true });
 * await nats.kill(); // SIGKILL: the broker vanishes without a goodbye
 * await nats.restart(); // and comes back on the same port, with the same store
 * await nats.cleanup(); // stops it and removes its directory
 * ```
 */
export class PrivateServer {
  static readonly #all = new Set<PrivateServer>();
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();
  #output = "";
  #prepared = false;

  private constructor(
    readonly kind: PrivateServerKind,
    readonly layout: Layout,
    readonly options: PrivateServerOptions,
  ) {}

  /** Picks the ports and makes the directory; does not start the server. */
  static async create(
    kind: PrivateServerKind,
    options: PrivateServerOptions = {},
  ): Promise<PrivateServer> {
    const dir = mkdtempSync(join(tmpdir(), `flotilla-${kind}-`));
    const server = new PrivateServer(
      kind,
      { port: await freePort(), spare: await freePort(), dir },
      options,
    );
    PrivateServer.#all.add(server);
    return server;
  }

  /** Creates a server and starts it. */
  static async start(
    kind: PrivateServerKind,
    options: PrivateServerOptions = {},
  ): Promise<PrivateServer> {
    const server = await PrivateServer.create(kind, options);
    await server.start();
    return server;
  }

  /** Stops and removes every server created so far; for `afterAll`. */
  static async stopAll(): Promise<void> {
    await Promise.all([...PrivateServer.#all].map((s) => s.cleanup()));
  }

  get port(): number {
    return this.layout.port;
  }

  /** `127.0.0.1:<port>`, for a transporter's server list. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The URL a client connects to (`nats://…`, `redis://…`, `amqp://guest:guest@…`). */
  get url(): string {
    return recipes[this.kind].url(this.layout);
  }

  /** Whether the server process is running. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server; resolves once it is ready for clients, fails with its output if not. */
  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error(`${this.kind} is already running`);
    const recipe = recipes[this.kind];
    if (!this.#prepared) recipe.prepare?.(this.layout);
    this.#prepared = true;
    const { command, args, env } = recipe.spawn(this.layout, this.options);
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      cwd: this.layout.dir,
      detached: true, // its own process group: a signal reaches a wrapper script and its server alike
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    this.#output = "";
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-4_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let exited = false;
    this.#exited = new Promise((resolve) => {
      child.once("exit", resolve);
      child.once("error", (err) => {
        keep(Buffer.from(String(err)));
        resolve(err);
      });
    }).then(() => {
      exited = true;
    });
    // Should the test process end before afterAll, the server must not outlive it.
    const orphan = () => this.#signal(child, "SIGKILL");
    process.once("exit", orphan);
    void this.#exited.then(() => process.off("exit", orphan));
    const timeout = this.options.startTimeout ?? recipe.startTimeout;
    try {
      await until(
        () => {
          if (exited) throw new Error("it exited");
          return recipe.ready(this.layout);
        },
        { timeout, interval: 50, message: `${this.kind} on port ${this.port}` },
      );
    } catch (err) {
      await this.kill();
      throw new Error(
        `private ${this.kind} did not start (${(err as Error).message}):\n${this.#output}`,
      );
    }
  }

  /** Ends the server with SIGKILL (no goodbye to its clients, nothing flushed) and waits until it is gone. */
  kill(): Promise<void> {
    return this.#end("SIGKILL", 0);
  }

  /** Stops the server with SIGTERM (it closes its clients' connections); SIGKILL after `timeout` ms. */
  stop(timeout = 20_000): Promise<void> {
    return this.#end("SIGTERM", timeout);
  }

  /** Stops the server if it runs and starts it again, on the same port and with the same data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops the server and deletes its directory. Safe to call more than once, or after a failure. */
  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.layout.dir, { recursive: true, force: true });
    PrivateServer.#all.delete(this);
  }

  async #end(signal: NodeJS.Signals, timeout: number): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    this.#signal(child, signal);
    if (signal !== "SIGKILL") {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), timeout);
      });
      if ((await Promise.race([this.#exited, late])) === "late") this.#signal(child, "SIGKILL");
      clearTimeout(timer);
    }
    await this.#exited;
    // A wrapper script may exit a moment before the server under it lets go of the port.
    await until(
      async () => {
        if (!(await reachable(this.port))) return true;
        this.#signal(child, "SIGKILL");
        return false;
      },
      { timeout: 20_000, interval: 50, message: `${this.kind} to free port ${this.port}` },
    );
  }

  /** Signals the server's whole process group; nothing to do when it is gone already. */
  #signal(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}

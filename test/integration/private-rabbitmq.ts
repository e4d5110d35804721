// A RabbitMQ node of its own for tests that stop and start the broker: its own node name, ports,
// data and log directories, config and Erlang cookie (in its own HOME), all in one temp
// directory. The shared server on 5672 is never touched.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqplib from "amqplib";

/** Where the server script lives: the packaged one first (the Debian wrapper in /usr/sbin switches
 * to the rabbitmq user and its own environment), then whatever `PATH` has. */
const SERVER_SCRIPTS = [
  process.env.RABBITMQ_SERVER_SCRIPT,
  "/usr/lib/rabbitmq/bin/rabbitmq-server",
  "/usr/local/opt/rabbitmq/sbin/rabbitmq-server",
].filter((p): p is string => p !== undefined && existsSync(p));

/**
 * One private RabbitMQ node, run as a child process in the foreground.
 *
 * @example
 * ```ts
 * const rabbit = await PrivateRabbitMQ.create();
 * await rabbit.start();
 * const url = rabbit.url; // amqp://guest:guest@127.0.0.1:<port>
 * await rabbit.restart();
 * await rabbit.cleanup(); // stops it and removes its directory
 * ```
 */
export class PrivateRabbitMQ {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = "";

  private constructor(
    readonly port: number,
    readonly distPort: number,
    readonly dir: string,
    readonly nodeName: string,
  ) {}

  /** Picks two free ports and writes the config into a fresh temp directory. */
  static async create(): Promise<PrivateRabbitMQ> {
    const [port, distPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), "flotilla-rabbitmq-"));
    writeFileSync(join(dir, "rabbitmq.conf"), `listeners.tcp.default = 127.0.0.1:${port}\n`);
    writeFileSync(join(dir, "advanced.config"), "[].\n");
    writeFileSync(join(dir, "enabled_plugins"), "[].\n");
    writeFileSync(join(dir, "rabbitmq-env.conf"), ""); // not the system's (its NODENAME)
    const nodeName = `flotilla-test-${process.pid}-${port}@localhost`;
    return new PrivateRabbitMQ(port, distPort, dir, nodeName);
  }

  /** The URL of this node (RabbitMQ's default user works on loopback). */
  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Starts the node and resolves once it accepts AMQP connections. */
  async start(timeout = 40_000): Promise<void> {
    if (this.#child !== undefined) throw new Error("already running");
    const script = SERVER_SCRIPTS[0];
    if (script === undefined)
      throw new Error("rabbitmq-server not found; set RABBITMQ_SERVER_SCRIPT");
    const child = spawn(script, [], {
      env: { ...process.env, ...this.#env() },
      cwd: this.dir,
      detached: true, // its own process group: stop() reaches the shell script and beam alike
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    this.#output = "";
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    let exited = false;
    void this.#exited.then(() => {
      exited = true;
    });
    const deadline = Date.now() + timeout;
    while (!(await this.#accepts())) {
      if (exited || Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `private RabbitMQ did not start (${exited ? "exited" : "timeout"}):\n${this.#output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Stops the node (SIGTERM: RabbitMQ closes every client connection) and waits for its exit. */
  async stop(timeout = 20_000): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    const group = child.pid === undefined ? undefined : -child.pid;
    const signal = (sig: NodeJS.Signals) => {
      try {
        if (group !== undefined) process.kill(group, sig);
      } catch {
        // already gone
      }
    };
    if (child.exitCode === null && child.signalCode === null) signal("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), timeout);
    });
    if ((await Promise.race([this.#exited, late])) === "late") {
      signal("SIGKILL");
      await this.#exited;
    }
    clearTimeout(timer);
    // The shell may exit a moment before the Erlang VM lets go of the port.
    const deadline = Date.now() + timeout;
    while ((await this.#listening()) && Date.now() < deadline) {
      signal("SIGKILL");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops and starts again on the same port, with the same data (durable queues survive). */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops the node and deletes its directory. Safe to call more than once, or after a failure. */
  async cleanup(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  #env(): Record<string, string> {
    const dir = this.dir;
    return {
      HOME: dir, // the Erlang cookie is created (and read by rabbitmqctl) here
      RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
      RABBITMQ_LOG_BASE: join(dir, "log"),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
      RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, "advanced.config"),
      ERL_EPMD_ADDRESS: "127.0.0.1",
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    };
  }

  /** Whether an AMQP handshake succeeds (a listening port alone comes before the broker is up). */
  async #accepts(): Promise<boolean> {
    try {
      const conn = await amqplib.connect(this.url, { timeout: 2000 });
      conn.on("error", () => undefined);
      await conn.close();
      return true;
    } catch {
      return false;
    }
  }

  async #listening(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(this.port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
  }
}

/** A port nothing listens on right now (bound and released by this process). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

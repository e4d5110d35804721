// A NATS cluster of the test's own: three (or more) private nats-server processes with routes
// between them and JetStream on each, to kill one server under live nodes and bring it back.
// The shared server on 4222 is never touched; each member has its own ports and store.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, reachable } from "./servers.js";
import { until } from "./until.js";

/** How a cluster is started. */
export interface NatsClusterOptions {
  /** Servers in the cluster; 3 unless told (JetStream's R3 streams need 3). */
  size?: number;
  /** Milliseconds the cluster may take to form (routes up, a JetStream meta leader); 30 000 unless told. */
  formTimeout?: number;
}

/** What one member's monitoring endpoint says about the cluster. */
export interface MemberView {
  /** Routes to other members that are up. */
  routes: number;
  /** The JetStream meta leader this member follows (`""` while there is none). */
  leader: string;
  /** `/healthz` said ok: JetStream is current with the meta leader and its streams. */
  healthy: boolean;
}

/** The nats-server binary: `NATS_SERVER`, the Debian package's, or the one on the PATH. */
function natsServerCommand(): string {
  const candidates = [process.env.NATS_SERVER, "/usr/sbin/nats-server"];
  return candidates.find((p): p is string => p !== undefined && existsSync(p)) ?? "nats-server";
}

/**
 * One server of a {@link NatsCluster}: its client, route and monitoring ports (fixed across
 * restarts, so clients and routes find it again) and its own JetStream store.
 */
export class NatsClusterMember {
  #child: ChildProcess | undefined;
  #exited: Promise<unknown> = Promise.resolve();
  #output = "";

  constructor(
    readonly name: string,
    readonly port: number,
    readonly routePort: number,
    readonly monitorPort: number,
    readonly dir: string,
  ) {}

  /** `127.0.0.1:<port>`, for a server list. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** The last few kilobytes the server printed, for a failure message. */
  get output(): string {
    return this.#output;
  }

  /** Writes the config file naming every member's route; once, before the first start. */
  configure(cluster: string, members: readonly NatsClusterMember[]): void {
    const routes = members.map((m) => `nats-route://127.0.0.1:${m.routePort}`);
    const store = join(this.dir, "jetstream");
    mkdirSync(store, { recursive: true });
    const config = [
      `server_name: ${this.name}`,
      `listen: 127.0.0.1:${this.port}`,
      `http: 127.0.0.1:${this.monitorPort}`,
      `jetstream { store_dir: ${JSON.stringify(store)} }`,
      `cluster { name: ${cluster}, listen: 127.0.0.1:${this.routePort}, routes: [ ${routes.join(", ")} ] }`,
    ];
    writeFileSync(this.#configFile, `${config.join("\n")}\n`);
  }

  get #configFile(): string {
    return join(this.dir, "nats.conf");
  }

  /** Starts the process; resolves once it takes client connections (not yet once the cluster formed). */
  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error(`${this.name} is already running`);
    const child = spawn(natsServerCommand(), ["-c", this.#configFile], {
      cwd: this.dir,
      detached: true, // its own process group, like PrivateServer's
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-4_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let exited = false;
    this.#exited = new Promise((resolve) => {
      child.once("exit", resolve);
      child.once("error", resolve);
    }).then(() => {
      exited = true;
    });
    // Should the test process end before cleanup, the server must not outlive it.
    const orphan = () => signal(child, "SIGKILL");
    process.once("exit", orphan);
    void this.#exited.then(() => process.off("exit", orphan));
    try {
      await until(
        () => {
          if (exited) throw new Error("it exited");
          return reachable(this.port);
        },
        { timeout: 10_000, interval: 50, message: `nats-server ${this.name} on port ${this.port}` },
      );
    } catch (err) {
      await this.kill();
      throw new Error(`${this.name} did not start (${(err as Error).message}):\n${this.#output}`);
    }
  }

  /** SIGKILL: the server vanishes without a goodbye to its clients or routes. Waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    signal(child, "SIGKILL");
    await this.#exited;
  }

  /** Reads a monitoring endpoint (`/routez`, `/jsz`, `/healthz`, `/connz`) as JSON. */
  async monitor<T>(path: string): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${this.monitorPort}${path}`, {
      signal: AbortSignal.timeout(2_000),
    });
    return (await response.json()) as T;
  }

  /** Routes, meta leader and health as this member sees them; `undefined` when it does not answer. */
  async view(): Promise<MemberView | undefined> {
    try {
      const [routez, jsz, healthz] = await Promise.all([
        this.monitor<{ num_routes?: number }>("/routez"),
        this.monitor<{ meta_cluster?: { leader?: string } }>("/jsz"),
        this.monitor<{ status?: string }>("/healthz"),
      ]);
      return {
        routes: routez.num_routes ?? 0,
        leader: jsz.meta_cluster?.leader ?? "",
        healthy: healthz.status === "ok",
      };
    } catch {
      return undefined;
    }
  }

  /** Names of the clients connected to this member right now (as they gave them on connect). */
  async clientNames(): Promise<string[]> {
    const connz = await this.monitor<{ connections?: { name?: string }[] }>("/connz?limit=10000");
    return (connz.connections ?? []).map((c) => c.name ?? "");
  }
}

/** Signals the server's process group; nothing to do when it is gone already. */
function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, name);
  } catch {
    // already gone
  }
}

/**
 * A NATS cluster on free ports: every member routes to every other, each runs JetStream with its
 * own store (`server_name` and the cluster name let R3 streams spread over them), and each has a
 * monitoring port that says when the cluster is formed. A member can be SIGKILLed and started
 * again on its ports with its store.
 *
 * @example
 * ```ts
 * const cluster = await NatsCluster.start(); // resolves once routes are up and a meta leader is elected
 * const broker = new ServiceBroker({ transporter: `${cluster.url}?replicas=3` });
 * await cluster.kill(1);
 * await cluster.restart(1); // resolves once the member caught up with the cluster again
 * await cluster.cleanup();
 * ```
 */
export class NatsCluster {
  private constructor(
    readonly name: string,
    readonly members: readonly NatsClusterMember[],
    readonly dir: string,
    private readonly formTimeout: number,
  ) {}

  /** Starts every member and waits until the cluster is formed. */
  static async start({
    size = 3,
    formTimeout = 30_000,
  }: NatsClusterOptions = {}): Promise<NatsCluster> {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-nats-cluster-"));
    const members: NatsClusterMember[] = [];
    for (let i = 1; i <= size; i++) {
      const own = join(dir, `n${i}`);
      mkdirSync(own);
      const [port, route, monitor] = [await freePort(), await freePort(), await freePort()];
      members.push(new NatsClusterMember(`n${i}`, port, route, monitor, own));
    }
    const name = `flotilla-test-${process.pid}`;
    for (const m of members) m.configure(name, members);
    const cluster = new NatsCluster(name, members, dir, formTimeout);
    try {
      await Promise.all(members.map((m) => m.start()));
      await cluster.formed();
    } catch (err) {
      await cluster.cleanup();
      throw err;
    }
    return cluster;
  }

  /** `nats://a,b,c`: every member, as a transporter URL with a host list. */
  get url(): string {
    return `nats://${this.members.map((m) => m.address).join(",")}`;
  }

  member(index: number): NatsClusterMember {
    const m = this.members[index];
    if (m === undefined) throw new Error(`the cluster has no member ${index}`);
    return m;
  }

  /**
   * Waits until every running member has a route to every other running member, follows the
   * same JetStream meta leader, and is healthy (current with the leader and its streams).
   */
  async formed(): Promise<void> {
    const running = this.members.filter((m) => m.running);
    let views: (MemberView | undefined)[] = [];
    try {
      await until(
        async () => {
          views = await Promise.all(running.map((m) => m.view()));
          const leader = views[0]?.leader;
          return views.every(
            (v) =>
              v !== undefined &&
              v.routes >= running.length - 1 &&
              v.leader !== "" &&
              v.leader === leader &&
              v.healthy,
          );
        },
        { timeout: this.formTimeout, interval: 100, message: `NATS cluster ${this.name} to form` },
      );
    } catch (err) {
      const seen = running.map((m, i) => `${m.name}: ${JSON.stringify(views[i])}`).join("; ");
      throw new Error(`${(err as Error).message}\n${seen}`);
    }
  }

  /** SIGKILLs member `index`. */
  kill(index: number): Promise<void> {
    return this.member(index).kill();
  }

  /** Starts member `index` again (after a kill) and waits until the cluster is whole again. */
  async restart(index: number): Promise<void> {
    const m = this.member(index);
    await m.kill();
    await m.start();
    await this.formed();
  }

  /**
   * The index of the member with the most clients whose name contains `text` (Flotilla nodes
   * name their connection `flotilla <namespace> <nodeID>`), and how many that is.
   */
  async busiest(text: string): Promise<{ index: number; clients: number }> {
    let best = { index: 0, clients: -1 };
    for (const [index, m] of this.members.entries()) {
      if (!m.running) continue;
      const clients = (await m.clientNames()).filter((n) => n.includes(text)).length;
      if (clients > best.clients) best = { index, clients };
    }
    return best;
  }

  /** Kills every member and removes the cluster's directory. Safe to call more than once. */
  async cleanup(): Promise<void> {
    await Promise.all(this.members.map((m) => m.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

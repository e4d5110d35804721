// How each kind of private server is laid out, started and known to be ready. The process
// handling (ports, directories, start, stop, kill, restart) is the same for all, in server.ts.
import { existsSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { connect as connectTls } from "node:tls";
import { reachable } from "../servers.js";

/** Where one private server lives: its client port, a spare port, and its own directory. */
export interface Layout {
  port: number;
  /** A second free port, for servers that need one (RabbitMQ's Erlang distribution). */
  spare: number;
  dir: string;
}

/** What the server is asked for beyond the defaults. */
export interface PrivateServerOptions {
  /** nats: JetStream on, with its file store in the server's directory. */
  jetstream?: boolean;
  /** redis: every write on disk (AOF, fsync always) before it is answered, so a SIGKILL loses nothing. */
  persistent?: boolean;
  /** Milliseconds a start may take; the kind's own default unless told. */
  startTimeout?: number;
  /**
   * nats, redis: TLS on the client port, with these PEM files (clients need not present a
   * certificate). Clients then dial `tls`: the plain protocol is refused.
   */
  tls?: { cert: string; key: string; ca: string };
  /** nats: an `authorization` block with these users; a client without one is refused. */
  users?: { user: string; password: string }[];
}

export interface Recipe {
  /** Writes what the server reads at every start (config files), once. */
  prepare?(layout: Layout): void;
  /** The command line, environment and working directory of one start. */
  spawn(
    layout: Layout,
    options: PrivateServerOptions,
  ): { command: string; args: string[]; env?: Record<string, string> };
  /** Whether the server is ready for clients (a listening port may come before that). */
  ready(layout: Layout): Promise<boolean>;
  url(layout: Layout): string;
  startTimeout: number;
}

/** The first of `paths` that exists; `undefined` when none does. */
function firstExisting(...paths: (string | undefined)[]): string | undefined {
  return paths.find((p): p is string => p !== undefined && existsSync(p));
}

const nats: Recipe = {
  spawn({ port, dir }, { jetstream, tls, users }) {
    const command =
      firstExisting(process.env.NATS_SERVER, "/usr/sbin/nats-server") ?? "nats-server";
    const store = jetstream ? ["-js", "-sd", dir] : [];
    // Users and TLS go in a config file, as an operator would write them.
    const config: string[] = [];
    if (users !== undefined) {
      const list = users.map(
        (u) => `{ user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)} }`,
      );
      config.push(`authorization { users = [ ${list.join(", ")} ] }`);
    }
    if (tls !== undefined) {
      config.push(
        `tls { cert_file: ${JSON.stringify(tls.cert)}, key_file: ${JSON.stringify(tls.key)}, ca_file: ${JSON.stringify(tls.ca)} }`,
      );
    }
    const file = join(dir, "nats.conf");
    if (config.length > 0) writeFileSync(file, `${config.join("\n")}\n`);
    const configArgs = config.length > 0 ? ["-c", file] : [];
    return { command, args: [...configArgs, "-a", "127.0.0.1", "-p", String(port), ...store] };
  },
  ready: ({ port }) => reachable(port),
  url: ({ port }) => `nats://127.0.0.1:${port}`,
  startTimeout: 10_000,
};

const redis: Recipe = {
  spawn({ port, dir }, { persistent, tls }) {
    const aof = persistent
      ? ["--appendonly", "yes", "--appendfsync", "always"]
      : ["--appendonly", "no"];
    // With TLS, the client port speaks TLS only (the plain port is off).
    const ports =
      tls === undefined
        ? ["--port", String(port)]
        : [
            ...["--port", "0", "--tls-port", String(port), "--tls-cert-file", tls.cert],
            ...[
              "--tls-key-file",
              tls.key,
              "--tls-ca-cert-file",
              tls.ca,
              "--tls-auth-clients",
              "no",
            ],
          ];
    const args = [...ports, "--bind", "127.0.0.1", "--dir", dir, "--save", "", ...aof];
    return { command: "redis-server", args };
  },
  // Taking connections is not enough: Redis answers LOADING until its AOF is read back. A
  // server with TLS (see `tls`) is asked over TLS.
  ready: async (layout) => (await redisPing(layout, false)) || redisPing(layout, true),
  url: ({ port }) => `redis://127.0.0.1:${port}`,
  startTimeout: 10_000,
};

function redisPing({ port }: Layout, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls
      ? connectTls({ port, host: "127.0.0.1", rejectUnauthorized: false })
      : connect(port, "127.0.0.1");
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once(tls ? "secureConnect" : "connect", () => socket.write("PING\r\n"));
    socket.once("data", (reply) => {
      socket.destroy();
      resolve(reply.toString().startsWith("+PONG"));
    });
    socket.once("error", () => resolve(false));
    socket.once("close", () => resolve(false));
  });
}

/** RabbitMQ's node name: one per private server, so two never share an Erlang identity. */
const nodeName = ({ port }: Layout) => `flotilla-test-${process.pid}-${port}@localhost`;

const rabbitmq: Recipe = {
  prepare({ port, dir }) {
    writeFileSync(join(dir, "rabbitmq.conf"), `listeners.tcp.default = 127.0.0.1:${port}\n`);
    writeFileSync(join(dir, "advanced.config"), "[].\n");
    writeFileSync(join(dir, "enabled_plugins"), "[].\n");
    writeFileSync(join(dir, "rabbitmq-env.conf"), ""); // not the system's (its NODENAME)
  },
  spawn(layout) {
    const { port, spare, dir } = layout;
    // The packaged script first: the Debian wrapper in /usr/sbin switches to the rabbitmq user
    // and its own environment.
    const command = firstExisting(
      process.env.RABBITMQ_SERVER_SCRIPT,
      "/usr/lib/rabbitmq/bin/rabbitmq-server",
      "/usr/local/opt/rabbitmq/sbin/rabbitmq-server",
    );
    if (command === undefined)
      throw new Error("rabbitmq-server not found; set RABBITMQ_SERVER_SCRIPT");
    const env = {
      HOME: dir, // the Erlang cookie is created (and read by rabbitmqctl) here
      RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
      RABBITMQ_NODENAME: nodeName(layout),
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(spare),
      RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
      RABBITMQ_LOG_BASE: join(dir, "log"),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
      RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, "advanced.config"),
      ERL_EPMD_ADDRESS: "127.0.0.1",
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    };
    return { command, args: [], env };
  },
  // A listening port comes before the broker takes AMQP connections: wait for a handshake.
  async ready(layout) {
    const { default: amqplib } = await import("amqplib");
    try {
      const conn = await amqplib.connect(rabbitmq.url(layout), { timeout: 2_000 });
      conn.on("error", () => undefined);
      await conn.close();
      return true;
    } catch {
      return false;
    }
  },
  url: ({ port }) => `amqp://guest:guest@127.0.0.1:${port}`, // guest works on loopback
  startTimeout: 40_000,
};

// ZooKeeper, standalone, from Debian's jars (the jar's manifest names its dependencies). A tick
// of 500 ms allows sessions of 1 s (2 ticks) to 10 s (20 ticks), so a crashed client's session
// expires quickly. `forceSync=no` skips the fsync of each write: a SIGKILL of the server still
// loses nothing (the OS has the file), only a power cut would.
const zookeeper: Recipe = {
  prepare({ port, dir }) {
    const config = [
      "tickTime=500",
      `dataDir=${join(dir, "data")}`, // a test may remove it between a kill and a start
      `clientPort=${port}`,
      "clientPortAddress=127.0.0.1",
      "admin.enableServer=false",
      "4lw.commands.whitelist=ruok,srvr",
      "maxClientCnxns=0",
      "forceSync=no",
    ];
    writeFileSync(join(dir, "zoo.cfg"), `${config.join("\n")}\n`);
  },
  spawn({ dir }) {
    const jar = firstExisting(process.env.ZOOKEEPER_JAR, "/usr/share/java/zookeeper.jar");
    if (jar === undefined) throw new Error("zookeeper.jar not found; set ZOOKEEPER_JAR");
    // slf4j-simple prints the server's warnings, so a start that fails says why.
    const logger = firstExisting("/usr/share/java/slf4j-simple.jar");
    const classpath = logger === undefined ? jar : `${jar}:${logger}`;
    const args = ["-Xmx256m", "-cp", classpath, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"];
    const main = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
    const java = firstExisting(process.env.JAVA, "/usr/bin/java") ?? "java";
    return { command: java, args: [...args, main, join(dir, "zoo.cfg")] };
  },
  // The port opens before the server serves: `srvr` names the mode only once it does.
  ready: ({ port }) => fourLetterWord(port, "srvr", "Mode: standalone"),
  url: ({ port }) => `zk://127.0.0.1:${port}`,
  startTimeout: 30_000,
};

// etcd, a single member with its peer port on the spare one. Short raft timings, so a lease of
// 2 s is allowed (etcd's shortest is 1.5 election timeouts) and a restart elects itself quickly.
const etcd: Recipe = {
  spawn({ port, spare, dir }) {
    const client = `http://127.0.0.1:${port}`;
    const peer = `http://127.0.0.1:${spare}`;
    const args = [
      ...["--name", "flotilla-test", "--data-dir", join(dir, "data")],
      ...["--listen-client-urls", client, "--advertise-client-urls", client],
      ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
      ...["--initial-cluster", `flotilla-test=${peer}`],
      ...["--heartbeat-interval", "50", "--election-timeout", "500"],
      ...["--logger", "zap", "--log-level", "warn"],
    ];
    const command = firstExisting(process.env.ETCD, "/usr/bin/etcd") ?? "etcd";
    return { command, args };
  },
  // The client port opens before the member has a leader: `/health` says when it serves.
  ready: async ({ port }) => {
    try {
      const reply = await fetch(`http://127.0.0.1:${port}/health`);
      return ((await reply.json()) as { health?: unknown }).health === "true";
    } catch {
      return false;
    }
  },
  url: ({ port }) => `etcd://127.0.0.1:${port}`,
  startTimeout: 15_000,
};

/** Whether ZooKeeper answers the four-letter command `word` with a reply holding `expect`. */
function fourLetterWord(port: number, word: string, expect: string): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(word));
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on("data", (chunk) => {
      reply += chunk.toString();
    });
    socket.once("error", () => resolve(false));
    socket.once("close", () => resolve(reply.includes(expect)));
  });
}

export const recipes = { nats, redis, rabbitmq, zookeeper, etcd } satisfies Record<string, Recipe>;

/** A kind of server the harness can start privately. */
export type PrivateServerKind = keyof typeof recipes;

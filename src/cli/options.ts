import { duration, integer, nonEmpty, oneOf, type Specs } from "./args.js";

/** `--help`, `--verbose`: every command. */
const BASIC: Specs = {
  help: { type: "boolean", short: "h", help: "show this help" },
  verbose: {
    type: "boolean",
    env: "FLOTILLA_VERBOSE",
    help: "print stacks of local errors and more detail",
  },
};

/** The config file: every command that reads one (docs/config.md). */
const CONFIG: Specs = {
  config: {
    type: "string",
    short: "c",
    env: "FLOTILLA_CONFIG",
    value: "FILE",
    help: "the config file (default: flotilla.config.* here or up to the project root)",
    check: nonEmpty,
  },
};

/** How to reach the cluster: every command that joins it. */
const CLUSTER: Specs = {
  transporter: {
    type: "string",
    short: "t",
    env: "FLOTILLA_TRANSPORTER",
    value: "URL",
    help: "how to reach the cluster (default tcp://)",
    check: nonEmpty,
  },
  discovery: {
    type: "string",
    env: "FLOTILLA_DISCOVERY",
    value: "URL",
    help: "who says which nodes are there: local (default), etcd://host:2379, zk://host:2181",
    check: nonEmpty,
  },
  namespace: {
    type: "string",
    short: "n",
    env: "FLOTILLA_NAMESPACE",
    value: "NS",
    help: "cluster namespace (default: none)",
    check: (raw) => raw,
  },
  serializer: {
    type: "string",
    env: "FLOTILLA_SERIALIZER",
    value: "json|msgpack",
    help: "packet encoding; all nodes must agree (default json)",
    check: oneOf("json", "msgpack"),
  },
  "log-level": {
    type: "string",
    env: "FLOTILLA_LOG_LEVEL",
    value: "LEVEL",
    help: "trace, debug, info, warn, error, fatal or silent (default info; warn for clients)",
    check: oneOf("trace", "debug", "info", "warn", "error", "fatal", "silent"),
  },
};

/** The short-lived node of `call`, `emit`, the listings and `dlq`. */
const CLIENT: Specs = {
  ...BASIC,
  ...CONFIG,
  ...CLUSTER,
  // No `env` on purpose: FLOTILLA_NODE_ID names the nodes `run` starts, and a client that took
  // it would collide with a node running in the same shell.
  "node-id": {
    type: "string",
    value: "ID",
    help: "this client's node ID (default cli-<pid>)",
    check: nonEmpty,
  },
  wait: {
    type: "string",
    env: "FLOTILLA_WAIT",
    value: "MS",
    help: "how long to wait for the cluster to show what is asked for (default 5000)",
    check: duration(0),
  },
  json: {
    type: "boolean",
    env: "FLOTILLA_JSON",
    help: "print JSON (the default when stdout is not a terminal)",
  },
};

/** A command of `flotilla`: its usage line, summary, options and whether it takes params. */
export interface CommandSpec {
  usage: string;
  summary: string;
  /** More lines of help after the usage. */
  details?: string;
  options: Specs;
  /** Unknown `--key value` pairs are the call's params. */
  params?: boolean;
}

export const COMMANDS = {
  run: {
    usage: "flotilla run [files, directories or globs...] [options]",
    summary: "load service modules into one node and run it until stopped",
    details:
      "Stops gracefully on SIGINT, SIGTERM or SIGHUP. A module's default export (a definition or\n" +
      "an array) is used; without one, every export made by defineService. With --health-port,\n" +
      "Prometheus metrics are served on /metrics too (FLOTILLA_METRICS=0 turns them off).\n" +
      "Without files, the config's services (or $FLOTILLA_SERVICES, comma-separated) run.",
    options: {
      ...BASIC,
      ...CONFIG,
      ...CLUSTER,
      watch: {
        type: "boolean",
        short: "w",
        env: "FLOTILLA_WATCH",
        help: "reload a service when its file or an import changes, without stopping the node",
      },
      "node-id": {
        type: "string",
        env: "FLOTILLA_NODE_ID",
        value: "ID",
        help: "the node's ID (default <hostname>-<pid>-<random>; <ID>-<n> with --instances)",
        check: nonEmpty,
      },
      instances: {
        type: "string",
        short: "i",
        env: "FLOTILLA_INSTANCES",
        value: "N",
        help: "fork N processes of this node (default 1)",
        check: integer(1, 1024, "a whole number"),
      },
      "health-port": {
        type: "string",
        env: "FLOTILLA_HEALTH_PORT",
        value: "PORT",
        help: "serve /health/live, /health/ready and /metrics on PORT (instance n on PORT+n-1)",
        check: integer(0, 65535, "a port"),
      },
      "health-host": {
        type: "string",
        env: "FLOTILLA_HEALTH_HOST",
        value: "HOST",
        help: "interface of the health probes (default 0.0.0.0)",
        check: nonEmpty,
      },
      "drain-timeout": {
        type: "string",
        env: "FLOTILLA_DRAIN_TIMEOUT",
        value: "MS",
        help: "how long a stop lets calls and handlers in flight finish (default 10000)",
        check: duration(0),
      },
      "dependency-timeout": {
        type: "string",
        env: "FLOTILLA_DEPENDENCY_TIMEOUT",
        value: "MS",
        help: "how long start waits for dependencies and the registry (default 30000)",
        check: duration(0),
      },
    },
  },
  call: {
    usage: "flotilla call <action> [params as JSON] [--key value...] [options]",
    summary: "call an action and print its result",
    details:
      "Params: a JSON argument and/or --key value pairs (values parse as JSON when they can;\n" +
      "dotted keys nest: --user.name Ada). After --, every --key value is a param, even one\n" +
      "named like an option. Waits up to --wait for a node that offers the action.",
    options: {
      ...CLIENT,
      timeout: {
        type: "string",
        env: "FLOTILLA_TIMEOUT",
        value: "MS",
        help: "time budget of the call (default: the action's, else 10000)",
        check: duration(1),
      },
    },
    params: true,
  },
  emit: {
    usage: "flotilla emit <event> [payload as JSON] [--key value...] [options]",
    summary: "emit an event into the cluster",
    details: "The payload is built like call's params. Waits for discovery to settle first.",
    options: {
      ...CLIENT,
      broadcast: { type: "boolean", help: "deliver to every handler, not one per group" },
    },
    params: true,
  },
  nodes: {
    usage: "flotilla nodes [options]",
    summary: "list the nodes of the cluster",
    options: CLIENT,
  },
  services: {
    usage: "flotilla services [options]",
    summary: "list services and the nodes that run them",
    options: CLIENT,
  },
  actions: {
    usage: "flotilla actions [options]",
    summary: "list actions with visibility, REST routes and nodes",
    options: CLIENT,
  },
  dlq: {
    usage: "flotilla dlq list | show <id> | replay <id> [options]",
    summary: "dead letters of durable events (amqp://, nats://, redis://)",
    details:
      "list: every dead letter; show: one, with its decoded event; replay: publish it again to\n" +
      "its group and remove it. An unknown ID fails with DEAD_LETTER_NOT_FOUND.",
    options: CLIENT,
  },
  new: {
    usage: "flotilla new <name> [options]",
    summary: "write a new project with two services, a test and a README",
    details:
      "Refuses to write into a folder that exists and is not empty. Then: cd <name>, npm install,\n" +
      "npm test, npm start.",
    options: {
      ...BASIC,
      flotilla: {
        type: "string",
        env: "FLOTILLA_PACKAGE",
        value: "SPEC",
        help: "the flotilla dependency: a version range, a path or a tarball (default ^<this version>)",
        check: nonEmpty,
      },
    },
  },
  migrate: {
    usage:
      "flotilla migrate up | down | status | new <name> <files, directories or globs...> [options]",
    summary: "run, undo, list or create the migrations of services with a database",
    details:
      "up: Flotilla's outbox and inbox tables, then every pending migration, of each service\n" +
      "with a database; down: undoes the last migration of one service; status: each migration\n" +
      "with when it ran, or pending; new <name>: writes <timestamp>_<name>.ts (.js next to a .js\n" +
      "service) into the service's migrations folder. The database is the one the service opens:\n" +
      "$FLOTILLA_DB_URL_<SERVICE>, its url, $FLOTILLA_DB_URL, else $FLOTILLA_DATA_DIR (./.data)/\n" +
      "<service>.sqlite. No node is started. A failing migration is rolled back: MIGRATION_FAILED.",
    options: {
      ...BASIC,
      ...CONFIG,
      service: {
        type: "string",
        short: "s",
        value: "NAME",
        help: "only this service (needed by down and new when several have a database)",
        check: nonEmpty,
      },
      json: {
        type: "boolean",
        env: "FLOTILLA_JSON",
        help: "print JSON (the default when stdout is not a terminal)",
      },
    },
  },
  shell: {
    usage: "flotilla shell [options]",
    summary: "an interactive shell on the cluster: call, emit, list, bench and trace",
    details:
      "Commands: call, emit, broadcast, nodes, services, actions, events, dlq, bench, trace, help,\n" +
      "exit. Tab completes commands, action and event names, and a params skeleton from the\n" +
      "action's schema. Ctrl-C cancels a running call or bench; Ctrl-D leaves. docs/cli.md",
    options: {
      ...BASIC,
      ...CONFIG,
      ...CLUSTER,
      "node-id": CLIENT["node-id"]!,
      wait: CLIENT.wait!,
      history: {
        type: "string",
        env: "FLOTILLA_SHELL_HISTORY",
        value: "FILE",
        help: "where history is kept (default .flotilla/shell_history in the project folder)",
        check: nonEmpty,
      },
      "history-size": {
        type: "string",
        env: "FLOTILLA_SHELL_HISTORY_SIZE",
        value: "N",
        help: "lines of history kept; 0 keeps none (default 1000)",
        check: integer(0, 100_000),
      },
    },
  },
  contracts: {
    usage:
      "flotilla contracts snapshot [files...] [--out FILE|DIR] | check [files... | snapshot.json] --against SNAPSHOT|cluster|URL | deprecated [options]",
    summary:
      "write services' contracts to a file, check changes for breaking ones, list deprecated use",
    details:
      "snapshot: the JSON Schemas of every public action's params and result and of every event\n" +
      "payload handled or emitted, per service and version, sorted for review; from the service\n" +
      "files, or from the cluster (-t) when none is named. check: compares the files (or a\n" +
      "snapshot, or the cluster) with --against, prints each change (breaking or compatible, the\n" +
      "field, why, and whose code it breaks) and exits 1 on a breaking one. deprecated: every\n" +
      "deprecated action and event handler of the cluster, with who still calls it. docs/contracts.md",
    options: {
      ...CLIENT,
      out: {
        type: "string",
        short: "o",
        value: "FILE|DIR",
        help: "snapshot: the file (default contracts.json), a folder (a file per service), or -",
        check: nonEmpty,
      },
      against: {
        type: "string",
        short: "a",
        value: "SNAPSHOT|cluster|URL",
        help: "check: compare with a snapshot file or folder, the cluster (-t), or a URL",
        check: nonEmpty,
      },
      json: {
        type: "boolean",
        env: "FLOTILLA_JSON",
        help: "print JSON (check prints its report as text unless asked)",
      },
    },
  },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

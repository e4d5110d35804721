import type { BrokerOptions } from "../../broker/options.js";

/** A duration in ms, or a string with a unit: `5000`, `"500ms"`, `"5s"`, `"1.5m"`. */
export type ConfigDuration = number | `${number}` | `${number}${"ms" | "s" | "m"}`;

/**
 * Broker options a config file may set that the CLI has no flag for (heartbeats, retries,
 * middlewares, the cluster secret, metrics, tracing…). The ones with a flag are top-level keys
 * of {@link FlotillaConfig}, so they have one place only.
 */
export type ConfigBrokerOptions = Omit<
  BrokerOptions,
  | "nodeID"
  | "namespace"
  | "transporter"
  | "discovery"
  | "serializer"
  | "logger"
  | "drainTimeout"
  | "dependencyTimeout"
>;

/**
 * What `flotilla.config.ts` (or `.mts`, `.js`, `.mjs`, `.json`) may set. Every key but `broker`
 * is also an environment variable (`FLOTILLA_` + the key in upper snake case) and a flag;
 * precedence: defaults < config file < environment < flags. See docs/config.md.
 */
export interface FlotillaConfig {
  /** Service files, directories or globs `flotilla run` loads when the command names none. */
  services?: string | readonly string[];
  /** How to reach the cluster (default `tcp://`). */
  transporter?: string;
  /** Who says which nodes are there: `local` (default), `etcd://host:2379`, `zk://host:2181`. */
  discovery?: string;
  /** The cluster's namespace (default none). */
  namespace?: string;
  /** Packet encoding; every node must agree (default `json`). */
  serializer?: "json" | "msgpack";
  /** Log level (default `info` for `run`, `warn` for the other commands). */
  logLevel?: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  /** The ID of the node `run` starts (`<ID>-<n>` with `instances`); clients ignore it. */
  nodeID?: string;
  /** How many processes `run` forks (default 1). */
  instances?: number;
  /** Serve health probes and metrics on this port (`run`). */
  healthPort?: number;
  /** The interface of the probes (default `0.0.0.0`). */
  healthHost?: string;
  /** How long a stop (or a reload in watch mode) lets work in flight finish (default 10000). */
  drainTimeout?: ConfigDuration;
  /** How long start waits for dependencies and the registry (default 30000). */
  dependencyTimeout?: ConfigDuration;
  /** `run` reloads services whose files (or imports) change (default false). */
  watch?: boolean;
  /** How long `call`, `emit` and the listings wait for the cluster (default 5000). */
  wait?: ConfigDuration;
  /** The time budget of `flotilla call` (default: the action's, else 10000). */
  timeout?: ConfigDuration;
  /** More broker options, for the node `run` starts and the CLI's short-lived client nodes. */
  broker?: ConfigBrokerOptions;
}

/** The environment a config function is given (after `.env` files are loaded). */
export type ConfigEnv = Readonly<Record<string, string | undefined>>;

/** A config, or a function of the environment that returns one (possibly async). */
export type ConfigInput =
  | FlotillaConfig
  | ((env: ConfigEnv) => FlotillaConfig | Promise<FlotillaConfig>);

/**
 * Types a `flotilla.config.ts`: returns what it is given, checked against {@link FlotillaConfig}.
 *
 * @example
 * ```ts
 * import { defineConfig } from "flotilla";
 *
 * export default defineConfig({
 *   services: "services/*.ts",
 *   transporter: "nats://127.0.0.1:4222",
 *   namespace: "shop",
 *   drainTimeout: "5s",
 *   broker: { heartbeatInterval: 2000 },
 * });
 * ```
 */
export function defineConfig(config: FlotillaConfig): FlotillaConfig;
export function defineConfig(
  config: (env: ConfigEnv) => FlotillaConfig | Promise<FlotillaConfig>,
): (env: ConfigEnv) => FlotillaConfig | Promise<FlotillaConfig>;
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}

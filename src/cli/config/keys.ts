import { ConfigInvalidError } from "../../errors/config.js";
import { BadValue, duration, integer, nonEmpty, oneOf } from "../args.js";
import { suggest } from "../suggest.js";
import type { ConfigBrokerOptions, FlotillaConfig } from "./define.js";

/** How one key of a config file is checked, and which flag and commands it stands for. */
interface KeySpec {
  kind: "string" | "number" | "boolean" | "services" | "broker";
  /** The CLI option it fills (by default the key in kebab case). */
  flag?: string | null;
  /** Converts and checks a string or number, as the flag's own check does. */
  check?: (raw: string) => unknown;
  /** The commands that read it (default: every command that has the flag). */
  only?: readonly string[];
}

/** Every key of {@link FlotillaConfig}, in the order docs/config.md lists them. */
export const CONFIG_KEYS = {
  services: { kind: "services", flag: null, only: ["run"] },
  transporter: { kind: "string", check: nonEmpty },
  discovery: { kind: "string", check: nonEmpty },
  namespace: { kind: "string", check: (raw) => raw },
  serializer: { kind: "string", check: oneOf("json", "msgpack") },
  logLevel: {
    kind: "string",
    check: oneOf("trace", "debug", "info", "warn", "error", "fatal", "silent"),
  },
  // Clients never take the ID of the node `run` starts (see docs/cli.md).
  nodeID: { kind: "string", flag: "node-id", check: nonEmpty, only: ["run"] },
  instances: { kind: "number", check: integer(1, 1024, "a whole number") },
  healthPort: { kind: "number", check: integer(0, 65535, "a port") },
  healthHost: { kind: "string", check: nonEmpty },
  drainTimeout: { kind: "number", check: duration(0) },
  dependencyTimeout: { kind: "number", check: duration(0) },
  watch: { kind: "boolean" },
  wait: { kind: "number", check: duration(0) },
  timeout: { kind: "number", check: duration(1) },
  broker: { kind: "broker", flag: null },
} as const satisfies Record<keyof FlotillaConfig, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** The broker options `broker: {...}` may hold (the others are top-level keys). */
const BROKER_KEYS = {
  strategy: true,
  preferLocal: true,
  balancing: true,
  heartbeatInterval: true,
  heartbeatTimeout: true,
  maxPacketSize: true,
  requestTimeout: true,
  maxCallLevel: true,
  validation: true,
  retry: true,
  circuitBreaker: true,
  bulkhead: true,
  middlewares: true,
  security: true,
  database: true,
  tracing: true,
  metrics: true,
  cacher: true,
  replaceable: true,
} as const satisfies Record<keyof ConfigBrokerOptions, true>;

/** `nodeID` → `node-id`: the flag a key stands for, or `undefined` when it has none. */
export function flagOf(key: ConfigKey): string | undefined {
  const spec: KeySpec = CONFIG_KEYS[key];
  if (spec.flag === null) return undefined;
  return spec.flag ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `nodeID` → `FLOTILLA_NODE_ID`, `healthPort` → `FLOTILLA_HEALTH_PORT`: the rule for every key. */
export function envOf(key: ConfigKey): string {
  return `FLOTILLA_${key.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()}`;
}

/** Whether `command` reads `key`. */
export function readBy(key: ConfigKey, command: string): boolean {
  const spec: KeySpec = CONFIG_KEYS[key];
  return spec.only === undefined || spec.only.includes(command);
}

/**
 * Checks what a config file exports: an object of known keys, each of its type. Durations and
 * numbers go through the same checks as their flags. Returns the values converted (durations
 * in ms), keyed as the config; throws `ConfigInvalidError` naming the file and the key.
 */
export function checkConfig(raw: unknown, file: string): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigInvalidError(file, undefined, `must export a config object, not ${show(raw)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!Object.hasOwn(CONFIG_KEYS, key)) throw unknownKey(file, key, Object.keys(CONFIG_KEYS));
    if (value === undefined) continue;
    out[key] = checkValue(CONFIG_KEYS[key as ConfigKey], value, file, key);
  }
  return out;
}

function checkValue(spec: KeySpec, value: unknown, file: string, key: string): unknown {
  const wrong = (expected: string): never => {
    throw new ConfigInvalidError(file, key, `must be ${expected}, not ${show(value)}`);
  };
  switch (spec.kind) {
    case "boolean":
      return typeof value === "boolean" ? value : wrong("true or false");
    case "services": {
      const list = typeof value === "string" ? [value] : value;
      const ok = Array.isArray(list) && list.length > 0;
      if (!ok || !list.every((v) => typeof v === "string" && v.trim() !== ""))
        wrong("a file, directory or glob, or a non-empty list of them");
      return list;
    }
    case "broker":
      return checkBroker(value, file, key);
    default: {
      const typeOk =
        typeof value === "string" || (spec.kind === "number" && typeof value === "number");
      if (!typeOk) wrong(spec.kind === "number" ? "a number" : "a string");
      try {
        return spec.check ? spec.check(String(value)) : value;
      } catch (err) {
        if (!(err instanceof BadValue)) throw err;
        return wrong(err.message);
      }
    }
  }
}

function checkBroker(value: unknown, file: string, key: string): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigInvalidError(
      file,
      key,
      `must be an object of broker options, not ${show(value)}`,
    );
  }
  for (const name of Object.keys(value)) {
    if (Object.hasOwn(BROKER_KEYS, name)) continue;
    if (Object.hasOwn(CONFIG_KEYS, name)) {
      throw new ConfigInvalidError(file, `broker.${name}`, `is set at the top level: ${name}: …`);
    }
    throw unknownKey(file, `broker.${name}`, Object.keys(BROKER_KEYS), name);
  }
  return value;
}

function unknownKey(
  file: string,
  key: string,
  known: readonly string[],
  word = key,
): ConfigInvalidError {
  const hint = suggest(word, known);
  return new ConfigInvalidError(
    file,
    key,
    `is not a config key${hint ? ` (did you mean '${hint}'?)` : ""}`,
  );
}

function show(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

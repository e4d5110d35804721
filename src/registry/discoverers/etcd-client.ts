import type { Etcd3, IOptions } from "etcd3";
import { optionalDependency } from "../../util/optional.js";
import type { DiscovererOptions } from "./discoverer.js";
import { discoveryError } from "./errors.js";

// The etcd client (`etcd3`, over gRPC), loaded on first use and set up for discovery: the
// discoverer does its own retries (re-registering, re-reading the view), so the client's
// circuit breaker and retries are replaced by a plain pass-through, and its watch reconnects
// quickly instead of backing off to half a minute.

const loadEtcd3 = optionalDependency("etcd3", "The etcd discoverer", () => import("etcd3"));

type Faults = NonNullable<IOptions["faultHandling"]>;
type Policy = NonNullable<Faults["global"]>;
type Backoff = NonNullable<Faults["watchBackoff"]>;

/** Settings of the etcd discoverer, from its URL's query. */
export interface EtcdSettings {
  /** How long one request to etcd may take, in ms (`?timeout=`). Default 3 000. */
  timeout: number;
  /** How long dialing a server may take, in ms (`?dialTimeout=`). Default 3 000. */
  dialTimeout: number;
}

/**
 * Reads the etcd discoverer's own query parameters; an unknown one is an error, so a typo does
 * not pass silently.
 *
 * @example
 * ```ts
 * etcdSettings(new URLSearchParams("timeout=5000")); // { timeout: 5000, dialTimeout: 3000 }
 * ```
 */
export function etcdSettings(params: URLSearchParams): EtcdSettings {
  const settings: EtcdSettings = { timeout: 3000, dialTimeout: 3000 };
  for (const [key, value] of params) {
    if (key !== "timeout" && key !== "dialTimeout") {
      throw discoveryError(
        `Unknown etcd discovery option '${key}'. Known: prefix, timeout, dialTimeout.`,
        "INVALID_DISCOVERY_URL",
      );
    }
    const n = Number(value);
    if (value === "" || !Number.isInteger(n) || n <= 0) {
      throw discoveryError(
        `Option '${key}' must be a positive integer (ms), got '${value}'.`,
        "INVALID_DISCOVERY_URL",
      );
    }
    settings[key] = n;
  }
  return settings;
}

/**
 * A client for the servers of `options` (`127.0.0.1:2379` when the URL names none).
 *
 * @example
 * ```ts
 * const client = await openEtcd(options, etcdSettings(options.params));
 * ```
 */
export async function openEtcd(options: DiscovererOptions, settings: EtcdSettings): Promise<Etcd3> {
  const { Etcd3 } = await loadEtcd3();
  const hosts = options.hosts.length > 0 ? options.hosts : ["127.0.0.1:2379"];
  return new Etcd3({
    hosts: hosts.map((h) => (/:\d+$/.test(h) ? h : `${h}:2379`)),
    ...(options.auth === undefined ? {} : { auth: { ...options.auth } }),
    dialTimeout: settings.dialTimeout,
    // Requests get a deadline; the streams (watch, lease keep-alive) live on.
    defaultCallOptions: (call) =>
      call.isStream ? {} : { deadline: Date.now() + settings.timeout },
    faultHandling: {
      host: () => passThrough,
      global: passThrough,
      watchBackoff: backoff(100),
    },
  });
}

/** Runs the call once: failures reach the discoverer, which retries in its own way. */
const passThrough = {
  execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T) =>
    fn({ signal: new AbortController().signal }),
  onSuccess: () => ({ dispose() {} }),
  onFailure: () => ({ dispose() {} }),
} as unknown as Policy;

/** 100 ms doubling up to 2 s: a watch is back soon after its server. */
function backoff(duration: number): Backoff {
  return { duration, next: () => backoff(Math.min(duration * 2, 2000)) } as unknown as Backoff;
}

/** Exponential backoff with jitter for re-registering: 100 ms, 200 ms, ... up to 2 s. */
export function retryDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.max(0, attempt - 1), 2000);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** Runs `work`, giving up (rejecting) after `ms`: a partitioned server never answers. */
export async function within(ms: number, work: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("etcd did not answer in time")), ms);
  });
  try {
    await Promise.race([work(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits `ms`; resolves `false` at once (or early) when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      resolve(ok);
    };
    const abort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener("abort", abort);
  });
}

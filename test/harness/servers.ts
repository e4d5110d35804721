// The shared servers of this machine, and the rule for one that is down: the test fails (in CI
// and everywhere else) with the exact command that starts it. Never a skip: a run that passes by
// skipping its brokers proves nothing.
import { connect, createServer } from "node:net";

/** The servers the integration tests share, on their default ports, and how each is started. */
export const SHARED = {
  rabbitmq: {
    name: "RabbitMQ",
    port: 5672,
    url: "amqp://guest:guest@127.0.0.1:5672",
    start: "rabbitmq-server -detached",
  },
  nats: {
    name: "NATS",
    port: 4222,
    url: "nats://127.0.0.1:4222",
    start:
      "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server",
  },
  redis: {
    name: "Redis",
    port: 6379,
    url: "redis://127.0.0.1:6379",
    start: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
  },
} as const;

/** One of the {@link SHARED} servers. */
export type SharedServer = keyof typeof SHARED;

/** Whether something accepts TCP connections on `host`:`port`. */
export function reachable(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Fails when the shared server `kind` is down, with the command that starts it. Call it at the
 * top of a test file (`await requireServer("nats")`) or in `beforeAll`.
 *
 * @example
 * ```ts
 * beforeAll(() => requireServer("redis"));
 * ```
 */
export async function requireServer(kind: SharedServer): Promise<void> {
  const { name, port, start } = SHARED[kind];
  if (await reachable(port)) return;
  throw new Error(
    `${name} is not reachable on 127.0.0.1:${port}. Start it with:\n  ${start}\n` +
      "(bash .ci/services.sh starts every server the tests use.)",
  );
}

/**
 * Ports handed out by {@link freePort}: below the kernel's ephemeral range (32768 and up on
 * Linux), so an outgoing connection never takes one between the test picking it and a server
 * binding it, and a slice of its own for each Vitest worker, so two files running at once never
 * pick the same one.
 */
const PORTS = { from: 20_000, slice: 3_000 };
let nextPort = -1;

/** A port nothing listens on right now (checked by binding it), not handed out before by this process. */
export async function freePort(): Promise<number> {
  const worker = Math.max(0, Number(process.env.VITEST_POOL_ID ?? 1) - 1) % 4;
  const base = PORTS.from + worker * PORTS.slice;
  if (nextPort < 0) nextPort = Math.floor(Math.random() * PORTS.slice);
  for (let tries = 0; tries < PORTS.slice; tries++) {
    const port = base + (nextPort++ % PORTS.slice);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${base}–${base + PORTS.slice - 1}`);
}

function bindable(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

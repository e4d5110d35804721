/**
 * The test harness: the one way the tests wait, meet a server that is down, and run servers of
 * their own.
 *
 * - {@link until}: polls a condition with a deadline, for state that raises no event; fails
 *   naming what it waited for and the last value seen. Where a backoff is waited on, tests use
 *   `vi.useFakeTimers()` and `vi.advanceTimersByTimeAsync` instead of real time.
 * - {@link requireServer}: a shared server (RabbitMQ 5672, NATS 4222, Redis 6379, see
 *   {@link SHARED}) that is down fails the test with the exact command that starts it, in CI and
 *   everywhere else. No test skips because a server is unreachable.
 * - {@link PrivateServer}: a nats-server (optionally with JetStream), redis-server (optionally
 *   persisting every write), RabbitMQ node, ZooKeeper or etcd member on free ports in its own
 *   temporary directory, to kill, stop and restart without touching the shared servers.
 * - {@link freePort}, {@link reachable}, {@link runWithout} (a script where a package is
 *   missing), {@link ScopedTransporter} (a transporter under a private topic prefix).
 *
 * @example
 * ```ts
 * import { PrivateServer, requireServer, until } from "../harness/index.js";
 *
 * beforeAll(() => requireServer("nats"));
 * afterAll(() => PrivateServer.stopAll());
 *
 * it("comes back after a restart", async () => {
 *   const server = await PrivateServer.start("redis", { persistent: true });
 *   await server.kill();
 *   await server.restart();
 *   await until(() => seen.length === 1, { timeout: 10_000, message: "the redelivery" });
 * });
 * ```
 */

export { attackerContext, BAD_INFO } from "./attacker.js";
export type { PrivateServerKind, PrivateServerOptions } from "./private-servers/recipes.js";
export { PrivateServer } from "./private-servers/server.js";
export { peerAwareTests, ScopedTransporter } from "./scoped-transporter.js";
export { freePort, reachable, requireServer, SHARED, type SharedServer } from "./servers.js";
export { type UntilOptions, until } from "./until.js";
export { runWithout } from "./without-package.js";

import { createServer, type Server } from "node:http";
import type { BrokerHealth } from "../broker/options.js";

/** Something that reports its health: a broker. */
export interface HealthSource {
  health(): BrokerHealth;
}

/**
 * Serves Kubernetes-style probes: `GET /health/live` (200 while the node runs) and
 * `GET /health/ready` (200 when it takes work, 503 while starting, draining or disconnected),
 * each with the health report as JSON.
 *
 * @example
 * ```ts
 * const server = await startHealthServer(broker, { port: 8081 });
 * ```
 */
export async function startHealthServer(
  source: HealthSource,
  options: { port: number; host?: string },
): Promise<Server> {
  const server = createServer((req, res) => {
    const health = source.health();
    const path = (req.url ?? "/").split("?")[0];
    const ok =
      path === "/health/live" ? health.live : path === "/health/ready" ? health.ready : undefined;
    if (req.method !== "GET" || ok === undefined) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
      return;
    }
    res
      .writeHead(ok ? 200 : 503, { "content-type": "application/json" })
      .end(JSON.stringify(health));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => resolve());
  });
  return server;
}

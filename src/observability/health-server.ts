import { createServer, type Server, type ServerResponse } from "node:http";
import type { BrokerHealth } from "../broker/options.js";
import type { BrokerMetrics } from "./metrics/broker-metrics.js";

/** Something that reports its health, and maybe its metrics: a broker. */
export interface HealthSource {
  health(): BrokerHealth;
  /** Served on `/metrics` when set (a broker with `metrics` on). */
  readonly metrics?: Pick<BrokerMetrics, "contentType" | "text"> | undefined;
}

/**
 * Serves Kubernetes-style probes: `GET /health/live` (200 while the node runs) and
 * `GET /health/ready` (200 when it takes work, 503 while starting, draining or disconnected),
 * each with the health report as JSON; and `GET /metrics`, the node's Prometheus metrics (404
 * when it has none).
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
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      void serveMetrics(source.metrics, res);
      return;
    }
    const health = source.health();
    const ok =
      path === "/health/live" ? health.live : path === "/health/ready" ? health.ready : undefined;
    if (req.method !== "GET" || ok === undefined) {
      notFound(res);
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

function notFound(res: ServerResponse): void {
  res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
}

/** Writes the exposition; 404 without metrics, 500 (with the reason) if a collector failed. */
async function serveMetrics(metrics: HealthSource["metrics"], res: ServerResponse): Promise<void> {
  if (metrics === undefined) {
    notFound(res);
    return;
  }
  try {
    const text = await metrics.text();
    res.writeHead(200, { "content-type": metrics.contentType }).end(text);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error }));
  }
}

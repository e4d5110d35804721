// The benchmark's service: `products.get` uncached and cached, over a handler that is either
// trivial (what the cache itself costs) or waits 1 ms (a database query: what the cache saves).
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineService, ServiceBroker } from "../../src/index.js";

/** How the bench's handler behaves: `trivial` returns at once, `query` waits 1 ms first. */
export type Work = "trivial" | "query";
/** No cache, the memory cacher, or Redis on 127.0.0.1:6379. */
export type Store = "none" | "memory" | "redis";

const product = (id: number) => ({ id, name: `Lamp ${id}`, price: 1999, tags: ["home", "light"] });

/** A started broker with `products.get` set up for `work` and `store`. */
export async function benchBroker(
  work: Work,
  store: Store,
  prefix: string,
): Promise<ServiceBroker> {
  const broker = new ServiceBroker({
    logger: false,
    nodeID: `bench-cache-${store}-${work}`,
    cacher: store === "redis" ? `redis://127.0.0.1:6379?prefix=${prefix}:` : "memory",
  });
  broker.createService(
    defineService({
      name: "products",
      actions: {
        get: {
          params: z.object({ id: z.coerce.number().int() }),
          rest: "GET /products/:id",
          visibility: "published",
          cache: store === "none" ? false : { ttl: "10m", keys: ["id"] },
          async handler(ctx) {
            if (work === "query") await sleep(1);
            return product(ctx.params.id);
          },
        },
      },
    }),
  );
  await broker.start();
  await broker.cache.clean("products.*");
  return broker;
}

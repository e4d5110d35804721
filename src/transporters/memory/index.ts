// The memory transporter: nodes of one process on an in-process bus, for tests and single-process
// apps. Durable events work here too, kept in this process.
//
//   bus.ts          the MemoryBus: members, topics, groups, fault filters, kill
//   transporter.ts  the Transporter on a bus
//   streams.ts      in-process DurableStreams (consumer groups, retries, dead letters)
//   index.ts        named buses for memory:// URLs, and the factory
import { ConfigurationError } from "../../errors/index.js";
import { MemoryBus } from "./bus.js";
import { createMemoryTransporter, type MemoryTransporter } from "./transporter.js";

export { MemoryBus, type MemoryFilter, type MemoryFilterVerdict } from "./bus.js";
export {
  type MemoryStreamLimits,
  MemoryStreamStore,
  MemoryStreams,
  privateDurableStreams,
} from "./streams.js";
export { createMemoryTransporter, MemoryTransporter } from "./transporter.js";

/** Named buses for the `memory://name` URL form; `memory://` is the process-wide default bus. */
export class MemoryBusRegistry {
  private readonly buses = new Map<string, MemoryBus>();

  /** The bus called `name` (`""` is `"default"`), created on first use. */
  get(name: string): MemoryBus {
    const key = name === "" ? "default" : name;
    let bus = this.buses.get(key);
    if (bus === undefined) {
      bus = new MemoryBus(key);
      this.buses.set(key, bus);
    }
    return bus;
  }

  /** Forgets a named bus; transporters already on it keep it. */
  delete(name: string): boolean {
    return this.buses.delete(name === "" ? "default" : name);
  }
}

/**
 * The buses behind `memory://` URLs. This is the only process-wide state of the memory
 * transporter; tests that need isolation use their own {@link MemoryBus}.
 *
 * @example
 * ```ts
 * memoryBuses.get("bus-a").kill("n2"); // the bus that `memory://bus-a` transporters share
 * ```
 */
export const memoryBuses = new MemoryBusRegistry();

/**
 * The `memory://` factory: `memory://` joins the default bus, `memory://bus-a` the bus "bus-a".
 *
 * @example
 * ```ts
 * const t = memoryTransporterFromUrl(new URL("memory://bus-a"));
 * ```
 */
export function memoryTransporterFromUrl(url: URL): MemoryTransporter {
  const extra = [...url.searchParams.keys()];
  if (extra.length > 0 || (url.pathname !== "" && url.pathname !== "/")) {
    throw new ConfigurationError(
      `The memory transporter takes no options or path: '${url.href}'. Use memory://<bus-name>.`,
      "INVALID_TRANSPORTER_URL",
      { data: { url: url.href } },
    );
  }
  return createMemoryTransporter(memoryBuses.get(decodeURIComponent(url.host)));
}

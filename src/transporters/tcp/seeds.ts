import type { Logger } from "../../observability/logger.js";
import type { Mesh } from "./mesh.js";
import { type Address, backoff } from "./options.js";

interface Seed {
  readonly address: Address;
  /** Who answered there last time. */
  nodeID?: string;
  /** The seed turned out to be this node. */
  self: boolean;
  failures: number;
  timer?: NodeJS.Timeout;
}

/**
 * Static seeds: addresses given in the URL, dialed at start and again, with backoff, whenever
 * the dial fails or the session with the node behind them ends. The nodeID behind an address is
 * learned from its greeting, so seeds need not name their nodes.
 */
export class Seeds {
  private readonly seeds: Seed[];
  private stopped = false;

  constructor(
    addresses: readonly Address[],
    private readonly mesh: Mesh,
    /** Told once when a seed cannot be reached, and when it is reached again. */
    private readonly logger?: Logger,
  ) {
    this.seeds = addresses.map((address) => ({ address, self: false, failures: 0 }));
  }

  start(): void {
    for (const seed of this.seeds) this.dial(seed);
  }

  /** The session with `nodeID` ended: dial its seed again (soon, then backing off). */
  sessionDown(nodeID: string): void {
    for (const seed of this.seeds) {
      if (seed.nodeID !== nodeID || seed.timer !== undefined) continue;
      seed.failures = 0;
      this.retry(seed);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const seed of this.seeds) clearTimeout(seed.timer);
  }

  private dial(seed: Seed): void {
    seed.timer = undefined;
    if (this.stopped || seed.self) return;
    if (seed.nodeID !== undefined && this.mesh.hasSession(seed.nodeID)) return;
    this.mesh.dial(seed.address, {
      identified: (nodeID) => {
        if (seed.failures > 0) this.logger?.info({ seed: label(seed), nodeID }, "Seed reached");
        seed.nodeID = nodeID;
        seed.failures = 0;
      },
      isSelf: () => {
        seed.self = true;
      },
      failed: () => this.retry(seed),
    });
  }

  private retry(seed: Seed): void {
    if (this.stopped || seed.self || seed.timer !== undefined) return;
    seed.failures += 1;
    // A wrong address in the URL would otherwise go unnoticed: say so once, then retry quietly.
    if (seed.failures === 1 && seed.nodeID === undefined) {
      this.logger?.warn(
        { seed: label(seed) },
        `Seed ${label(seed)} is unreachable; retrying with backoff`,
      );
    }
    seed.timer = setTimeout(() => this.dial(seed), backoff(seed.failures));
    seed.timer.unref();
  }
}

function label(seed: Seed): string {
  return `${seed.address.host}:${seed.address.port}`;
}

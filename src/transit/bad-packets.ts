/** Settings of {@link BadPackets}. */
export interface BadPacketPolicy {
  /** Bad packets from one peer within `window` ms after which it is disconnected. Default 10. */
  strikes: number;
  /** Default 60 000. */
  window: number;
  /** Peers whose counters are kept; the oldest is forgotten first. Default 1 000. */
  maxPeers: number;
}

const DEFAULTS: BadPacketPolicy = { strikes: 10, window: 60_000, maxPeers: 1000 };

/** Counters of dropped packets: per peer (or `?` when unknown), per reason. */
export type BadPacketCounts = Record<string, Record<string, number>>;

/**
 * Counts the packets this node dropped, per peer and reason, and says when a peer has sent so
 * many in a short time that its connection should be cut. Bounded: at most `maxPeers` peers.
 *
 * @example
 * ```ts
 * const bad = new BadPackets();
 * if (bad.record("n2", "fields")) transporter.dropPeer?.("n2");
 * ```
 */
export class BadPackets {
  readonly #policy: BadPacketPolicy;
  readonly #peers = new Map<
    string,
    { reasons: Map<string, number>; since: number; strikes: number }
  >();
  readonly #now: () => number;

  constructor(policy: Partial<BadPacketPolicy> = {}, now: () => number = Date.now) {
    this.#policy = { ...DEFAULTS, ...policy };
    this.#now = now;
  }

  /** Counts one bad packet; returns `true` when the peer just reached its strikes. */
  record(peer: string, reason: string): boolean {
    const now = this.#now();
    let entry = this.#peers.get(peer);
    if (entry === undefined) {
      if (this.#peers.size >= this.#policy.maxPeers) {
        const oldest = this.#peers.keys().next();
        if (oldest.done !== true) this.#peers.delete(oldest.value);
      }
      entry = { reasons: new Map(), since: now, strikes: 0 };
      this.#peers.set(peer, entry);
    }
    entry.reasons.set(reason, (entry.reasons.get(reason) ?? 0) + 1);
    if (now - entry.since > this.#policy.window) {
      entry.since = now;
      entry.strikes = 0;
    }
    entry.strikes++;
    if (entry.strikes < this.#policy.strikes) return false;
    entry.strikes = 0;
    entry.since = now;
    return true;
  }

  /** Every counter, as plain data (for `broker.health()`). */
  counts(): BadPacketCounts {
    // fromEntries defines fields, so a peer named "__proto__" is just a field.
    return Object.fromEntries(
      [...this.#peers].map(([peer, { reasons }]) => [peer, Object.fromEntries(reasons)]),
    );
  }
}

import type {
  Transporter,
  TransporterCapabilities,
  TransporterContext,
} from "../../src/transporters/transporter.js";

/**
 * A transporter whose topics all live under `prefix`: lets the byte-level transporter suite,
 * whose topics are short names like `t`, run on a shared server without meeting anyone else.
 *
 * @example
 * ```ts
 * const t = new ScopedTransporter(new NatsTransporter(), `bytes.${process.pid}.`);
 * ```
 */
export class ScopedTransporter implements Transporter {
  constructor(
    readonly inner: Transporter,
    readonly prefix: string,
  ) {}

  get capabilities(): TransporterCapabilities {
    return this.inner.capabilities;
  }

  connect(context: TransporterContext): Promise<void> {
    const cut = this.prefix.length;
    return this.inner.connect({
      ...context,
      onMessage: (topic, data) => context.onMessage(topic.slice(cut), data),
    });
  }

  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }

  kill(): Promise<void> {
    return this.inner.kill?.() ?? this.inner.disconnect();
  }

  subscribe(topic: string, group?: string): Promise<void> {
    return this.inner.subscribe(this.prefix + topic, group);
  }

  publish(topic: string, data: Uint8Array): Promise<void> {
    return this.inner.publish(this.prefix + topic, data);
  }
}

/** The tests of the byte-level suite that need a peer-aware transporter. */
export const peerAwareTests = [
  "tells each side when a peer comes up",
  "reports a peer that leaves, after the messages it sent",
  "reports a peer that is killed",
  "reaches a node again after it restarts under the same nodeID",
  "keeps its subscriptions across a reconnect",
];

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import type { Logger } from "../../observability/logger.js";
import { isWildcard } from "./options.js";
import type { PeerFound } from "./rendezvous.js";

/** Who we are, as announced. */
export interface UdpSelf {
  namespace: string;
  nodeID: string;
  /** Our listen host; a wildcard tells receivers to dial the address the packet came from. */
  host: string;
  port: number;
}

/** Where and how often to announce. */
export interface UdpSettings {
  address: string;
  port: number;
  interval: number;
}

/**
 * LAN discovery: every node announces `{nodeID, host, port, namespace}` to a multicast group
 * (or a broadcast address) and listens for the others' announcements. Many sandboxes and CI
 * machines allow neither: then a bind or send failure is logged once at debug and UDP discovery
 * simply contributes nothing.
 */
export class UdpDiscovery {
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;
  private readonly payload: Buffer;

  constructor(
    private readonly settings: UdpSettings,
    private readonly self: UdpSelf,
    private readonly found: PeerFound,
    private readonly logger: Logger,
  ) {
    this.payload = Buffer.from(JSON.stringify({ flotilla: 1, ...self }));
  }

  start(): void {
    const socket = createSocket({ type: "udp4", reuseAddr: true });
    this.socket = socket;
    socket.on("error", (err) => this.fail("socket", err));
    socket.on("message", (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.bind(this.settings.port, () => {
      try {
        if (isMulticast(this.settings.address)) {
          socket.addMembership(this.settings.address);
          socket.setMulticastTTL(1); // this network segment only
          socket.setMulticastLoopback(true); // nodes on this machine hear each other
        } else socket.setBroadcast(true);
      } catch (err) {
        return this.fail("setup", err);
      }
      this.announce();
      this.timer = setInterval(() => this.announce(), this.settings.interval);
      this.timer.unref();
    });
    socket.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.socket?.close();
    } catch {
      // already closed after a failure
    }
    this.socket = undefined;
  }

  private announce(): void {
    const { address, port } = this.settings;
    try {
      this.socket?.send(this.payload, port, address, (err) => err && this.fail("send", err));
    } catch (err) {
      this.fail("send", err);
    }
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(msg.toString("utf8")) as Record<string, unknown>;
    } catch {
      return; // someone else's traffic on this port
    }
    if (m.flotilla !== 1 || m.namespace !== this.self.namespace) return;
    const { nodeID, host, port } = m;
    if (typeof nodeID !== "string" || nodeID === "" || nodeID === this.self.nodeID) return;
    if (typeof host !== "string" || typeof port !== "number" || !Number.isInteger(port)) return;
    this.found(nodeID, { host: isWildcard(host) ? rinfo.address : host, port });
  }

  private fail(what: string, err: unknown): void {
    if (!this.failed) {
      this.failed = true;
      this.logger.debug({ err }, `UDP discovery ${what} failed; continuing without it`);
    }
    if (what !== "send") this.stop();
  }
}

function isMulticast(address: string): boolean {
  const first = Number(address.split(".")[0]);
  return first >= 224 && first <= 239;
}

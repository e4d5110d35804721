import { hostname } from "node:os";
import { describeServices } from "../registry/descriptors.js";
import { send, type TransitCore } from "./core.js";
import type { Membership } from "./membership.js";
import {
  type HeartbeatPacket,
  type InfoPacket,
  PacketType,
  type PingPacket,
  type PongPacket,
} from "./packets.js";
import type { RegistryLink } from "./registry-link.js";

export type { InternalEmit } from "./membership.js";

const VERSION = "0.1.0";

/**
 * Keeps the catalogue of other nodes current. The `local` discoverer: announces this node (INFO)
 * on connect, on request and when its services change; drops nodes that say goodbye, whose
 * connection drops, or that stay silent past the heartbeat timeout, failing their pending calls
 * at once. With a registry center (`registry`: etcd, ZooKeeper), the registry says who is there
 * and no INFO or DISCOVER packets are sent; heartbeats, pings and goodbyes still travel over the
 * transporter, since they say whether a node answers.
 */
export class Discovery {
  #seq = 0;
  /** What the last announcement said, so `seq` changes only when the announcement does. */
  #announced = "";
  /** When each node not yet known was last asked for its INFO (one ask per heartbeat timeout). */
  readonly #asked = new Map<string, number>();
  /** When the heartbeat timer last ran: a late run means this node stalled, not the others. */
  #lastBeat = 0;
  #offline = false;
  /** Set when the node is leaving: it announces no services, so no new work is routed to it. */
  #leaving = false;
  #timer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #announce: NodeJS.Immediate | undefined;
  #cpu = cpuMeter();

  constructor(
    private readonly core: TransitCore,
    private readonly membership: Membership,
    private readonly pingNodes: boolean,
    /** The registry center, when discovery is not over the transporter. */
    readonly registry?: RegistryLink,
  ) {}

  /** Announces this node and asks the others to announce themselves; starts heartbeats. */
  async start(): Promise<void> {
    const { topics } = this.core;
    if (this.registry !== undefined) await this.registry.start();
    else {
      await send(this.core, topics.all("DISCOVER"), PacketType.DISCOVER, {
        sender: this.core.nodeID,
      });
      await send(this.core, topics.all("INFO"), PacketType.INFO, this.info());
    }
    this.#timer = setInterval(() => this.#beat(), this.core.settings.heartbeatInterval);
    this.#timer.unref();
    if (this.pingNodes) {
      this.#pingTimer = setInterval(
        () => this.#pingAll(),
        Math.max(1000, this.core.settings.heartbeatInterval * 5),
      );
      this.#pingTimer.unref();
    }
  }

  /** Tells the cluster this node takes no new work (its INFO lists no services from now on). */
  async leave(): Promise<void> {
    this.#leaving = true;
    if (this.#announce) clearImmediate(this.#announce);
    this.#announce = undefined;
    if (this.registry !== undefined) return this.registry.update();
    await send(this.core, this.core.topics.all("INFO"), PacketType.INFO, this.info());
  }

  /** Asks every node to announce itself and announces this one (after a reconnect). */
  reannounce(): void {
    // Back online: everyone gets two heartbeat timeouts before being judged again, since the
    // other nodes were cut off too and may reconnect a little later than this one.
    this.#offline = false;
    const grace = Date.now() + this.core.settings.heartbeatTimeout;
    for (const node of this.core.registry.remote.nodes.values()) node.lastSeen = grace;
    // A registry center was not cut off with the transporter: it still has this node.
    if (this.registry !== undefined) return;
    const { topics } = this.core;
    void send(this.core, topics.all("DISCOVER"), PacketType.DISCOVER, {
      sender: this.core.nodeID,
    }).catch(() => {});
    this.#publish(topics.all("INFO"));
  }

  /** Stops timers without a word to the others; a registry entry is left to expire. */
  async halt(): Promise<void> {
    this.#stopTimers();
    await this.registry?.halt();
  }

  /** Stops timers and says goodbye, so others drop this node at once instead of waiting. */
  async stop(): Promise<void> {
    this.#stopTimers();
    const leaving = this.registry?.stop();
    try {
      await send(this.core, this.core.topics.all("DISCONNECT"), PacketType.DISCONNECT, {
        sender: this.core.nodeID,
      });
    } finally {
      await leaving;
    }
  }

  /** This node's services changed: tell the others once, after the current burst of changes. */
  localChanged(): void {
    if (this.#announce) return;
    this.#announce = setImmediate(() => {
      this.#announce = undefined;
      if (this.registry !== undefined) void this.registry.update();
      else this.#publish(this.core.topics.all("INFO"));
    });
  }

  onDiscover(sender: string): void {
    if (this.registry === undefined) this.#publish(this.core.topics.node("INFO", sender));
  }

  onInfo(info: InfoPacket): void {
    // With a registry center, what a node serves is what its entry says, not its packets.
    if (this.registry !== undefined) return;
    this.#asked.delete(info.sender);
    const known = this.core.registry.remote.nodes.get(info.sender);
    if (known !== undefined && known.instanceID === info.instanceID && known.seq === info.seq) {
      // The same announcement again (it answered a DISCOVER, or a broadcast crossed it): taking
      // it in would cost a rebuild of the catalogue and a conflict check for nothing.
      known.lastSeen = Date.now();
      return;
    }
    this.membership.join(info);
  }

  onHeartbeat(packet: HeartbeatPacket): void {
    const node = this.core.registry.remote.nodes.get(packet.sender);
    if (node === undefined || node.instanceID !== packet.instanceID) {
      // A node not in the catalogue (it started before we could see it, or was judged lost):
      // ask it for its INFO, or let the registry's entry for it join again.
      if (this.registry !== undefined) this.registry.view.heard(packet.sender, packet.instanceID);
      else this.#discover(packet.sender);
      return;
    }
    node.lastSeen = Date.now();
    node.cpu = packet.cpu;
  }

  /** A peer's connection went away, or it said goodbye. */
  onNodeGone(nodeID: string, unexpected: boolean): void {
    this.registry?.view.lost(nodeID, !unexpected);
    this.membership.gone(nodeID, unexpected);
  }

  /** A peer's transport connection came up: ask it for its INFO right away. */
  onPeerUp(nodeID: string): void {
    if (this.core.registry.remote.nodes.has(nodeID)) return;
    if (this.registry !== undefined) this.registry.view.heard(nodeID);
    else this.#discover(nodeID);
  }

  onPing(packet: PingPacket): void {
    const pong: PongPacket = {
      sender: this.core.nodeID,
      id: packet.id,
      time: packet.time,
      arrived: Date.now(),
    };
    void send(this.core, this.core.topics.node("PONG", packet.sender), PacketType.PONG, pong).catch(
      () => {},
    );
  }

  onPong(packet: PongPacket): void {
    const node = this.core.registry.remote.nodes.get(packet.sender);
    if (node !== undefined) node.latency = Date.now() - packet.time;
  }

  /** The transporter lost its connection: stop judging other nodes by their silence. */
  offline(): void {
    this.#offline = true;
  }

  /** This node's announcement: the INFO body, and a registry entry's content. */
  info(): InfoPacket {
    const services = this.#leaving ? [] : describeServices(this.core.registry);
    // `seq` names one announcement: it moves only when what is announced changes, so a node
    // that hears the same INFO twice can tell.
    const content = JSON.stringify(services);
    if (content !== this.#announced || this.#seq === 0) {
      this.#announced = content;
      this.#seq += 1;
    }
    return {
      sender: this.core.nodeID,
      instanceID: this.core.instanceID,
      seq: this.#seq,
      hostname: hostname(),
      services,
      client: { type: "flotilla", version: VERSION },
    };
  }

  #stopTimers(): void {
    clearInterval(this.#timer);
    clearInterval(this.#pingTimer);
    if (this.#announce) clearImmediate(this.#announce);
  }

  #beat(): void {
    const now = Date.now();
    const { heartbeatInterval, heartbeatTimeout } = this.core.settings;
    // A timer that fires far too late says this node's event loop stalled: the heartbeats of
    // the others may be waiting, unread, in its sockets. Judge them on the next round instead.
    const late = this.#lastBeat > 0 && now - this.#lastBeat > heartbeatInterval * 2 + 500;
    this.#lastBeat = now;
    const beat: HeartbeatPacket = {
      sender: this.core.nodeID,
      instanceID: this.core.instanceID,
      cpu: this.#cpu(),
    };
    void send(this.core, this.core.topics.all("HEARTBEAT"), PacketType.HEARTBEAT, beat).catch(
      () => {},
    );
    // Cut off from the transporter, this node hears nobody: silence says nothing about the others.
    if (this.#offline || late) return;
    for (const node of [...this.core.registry.remote.nodes.values()]) {
      if (now - node.lastSeen > heartbeatTimeout) this.onNodeGone(node.id, true);
    }
    for (const [nodeID, at] of this.#asked)
      if (now - at > heartbeatTimeout) this.#asked.delete(nodeID);
  }

  #pingAll(): void {
    for (const nodeID of this.core.registry.remote.nodes.keys()) {
      const ping: PingPacket = { sender: this.core.nodeID, id: nodeID, time: Date.now() };
      void send(this.core, this.core.topics.node("PING", nodeID), PacketType.PING, ping).catch(
        () => {},
      );
    }
  }

  #discover(nodeID: string): void {
    // Heartbeats of a node not yet known come every interval: ask once per heartbeat timeout.
    const now = Date.now();
    const asked = this.#asked.get(nodeID);
    if (asked !== undefined && now - asked < this.core.settings.heartbeatTimeout) return;
    this.#asked.set(nodeID, now);
    void send(this.core, this.core.topics.node("DISCOVER", nodeID), PacketType.DISCOVER, {
      sender: this.core.nodeID,
    }).catch(() => {});
  }

  #publish(topic: string): void {
    send(this.core, topic, PacketType.INFO, this.info()).catch((err: unknown) =>
      this.core.logger.warn({ err }, "Could not announce this node"),
    );
  }
}

/** CPU use of this process since the last reading, in percent of one core. */
function cpuMeter(): () => number {
  let last = process.cpuUsage();
  let lastAt = performance.now();
  return () => {
    const now = process.cpuUsage();
    const at = performance.now();
    const usedMs = (now.user - last.user + now.system - last.system) / 1000;
    const pct = at > lastAt ? Math.min(100, Math.round((usedMs / (at - lastAt)) * 100)) : 0;
    last = now;
    lastAt = at;
    return pct;
  };
}

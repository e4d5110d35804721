import { hostname } from "node:os";
import type { ServiceDescriptor } from "../registry/catalog.js";
import { compareServices, describeConflict, type ServiceConflict } from "../registry/conflicts.js";
import { describeServices } from "../registry/descriptors.js";
import { send, type TransitCore } from "./core.js";
import {
  type HeartbeatPacket,
  type InfoPacket,
  PacketType,
  type PingPacket,
  type PongPacket,
} from "./packets.js";

/** Internal events discovery raises on this node (`$node.connected`, ...). */
export type InternalEmit = (event: string, payload: unknown) => void;

const VERSION = "0.1.0";

/**
 * Keeps the catalogue of other nodes current: announces this node (INFO) on connect, on request
 * and when its services change; sends heartbeats; drops nodes that say goodbye, whose connection
 * drops, or that stay silent past the heartbeat timeout, failing their pending calls at once.
 */
export class Discovery {
  #seq = 0;
  #offline = false;
  /** Set when the node is leaving: it announces no services, so no new work is routed to it. */
  #leaving = false;
  #timer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #announce: NodeJS.Immediate | undefined;
  #cpu = cpuMeter();
  /** Conflicts already reported, so each is said once (per pair of node runs and definitions). */
  #conflicts = new Set<string>();

  constructor(
    private readonly core: TransitCore,
    private readonly emit: InternalEmit,
    private readonly pingNodes: boolean,
  ) {}

  /** Announces this node and asks the others to announce themselves; starts heartbeats. */
  async start(): Promise<void> {
    const { topics } = this.core;
    await send(this.core, topics.all("DISCOVER"), PacketType.DISCOVER, {
      sender: this.core.nodeID,
    });
    await send(this.core, topics.all("INFO"), PacketType.INFO, this.#info());
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
    await send(this.core, this.core.topics.all("INFO"), PacketType.INFO, this.#info());
  }

  /** Asks every node to announce itself and announces this one (after a reconnect). */
  reannounce(): void {
    // Back online: everyone gets two heartbeat timeouts before being judged again, since the
    // other nodes were cut off too and may reconnect a little later than this one.
    this.#offline = false;
    const grace = Date.now() + this.core.settings.heartbeatTimeout;
    for (const node of this.core.registry.remote.nodes.values()) node.lastSeen = grace;
    const { topics } = this.core;
    void send(this.core, topics.all("DISCOVER"), PacketType.DISCOVER, {
      sender: this.core.nodeID,
    }).catch(() => {});
    this.#publish(topics.all("INFO"));
  }

  /** Stops timers without a word to the others. */
  halt(): void {
    clearInterval(this.#timer);
    clearInterval(this.#pingTimer);
    if (this.#announce) clearImmediate(this.#announce);
  }

  /** Stops timers and says goodbye, so others drop this node at once instead of waiting. */
  async stop(): Promise<void> {
    this.halt();
    await send(this.core, this.core.topics.all("DISCONNECT"), PacketType.DISCONNECT, {
      sender: this.core.nodeID,
    });
  }

  /** This node's services changed: tell the others once, after the current burst of changes. */
  localChanged(): void {
    if (this.#announce) return;
    this.#announce = setImmediate(() => {
      this.#announce = undefined;
      this.#publish(this.core.topics.all("INFO"));
    });
  }

  onDiscover(sender: string): void {
    this.#publish(this.core.topics.node("INFO", sender));
  }

  onInfo(info: InfoPacket): void {
    const { registry } = this.core;
    const previous = registry.remote.upsert(info, Date.now());
    const restarted = previous !== undefined && previous.instanceID !== info.instanceID;
    if (restarted) this.core.pending.rejectNode(info.sender, "node restarted");
    registry.changed();
    if (previous === undefined || restarted) {
      this.core.logger.info(
        { peer: info.sender, services: info.services.map((s) => s.fullName) },
        `Node '${info.sender}' connected`,
      );
      this.emit("$node.connected", { nodeID: info.sender, reconnected: restarted });
    }
    this.emit("$services.changed", { nodeID: info.sender, local: false });
    this.#checkConflicts(info);
  }

  /**
   * Warns (log and `$services.conflict`) when the announcing node defines a service version
   * differently from this node or another node: calls would behave differently by where they land.
   */
  #checkConflicts(info: InfoPacket): void {
    const { registry, nodeID } = this.core;
    const others: [string, string, ServiceDescriptor[]][] = [
      [nodeID, this.core.instanceID, describeServices(registry)],
    ];
    for (const node of registry.remote.nodes.values()) {
      if (node.id !== info.sender) others.push([node.id, node.instanceID, node.info.services]);
    }
    for (const mine of info.services) {
      for (const [otherID, otherInstance, services] of others) {
        const theirs = services.find((s) => s.fullName === mine.fullName);
        const diff = theirs && compareServices(theirs, mine);
        if (!diff) continue;
        const key = JSON.stringify([mine.fullName, otherInstance, info.instanceID, diff]);
        if (this.#conflicts.has(key)) continue;
        if (this.#conflicts.size > 1000) this.#conflicts.clear();
        this.#conflicts.add(key);
        const conflict: ServiceConflict = {
          service: mine.fullName,
          nodeIDs: [otherID, info.sender],
          onlyOn: { [otherID]: diff.onlyFirst, [info.sender]: diff.onlySecond },
          schemas: diff.schemas,
        };
        this.core.logger.warn(
          conflict,
          `Service '${mine.fullName}' is defined differently on nodes '${otherID}' and '${info.sender}' (${describeConflict(conflict)})`,
        );
        this.emit("$services.conflict", conflict);
      }
    }
  }

  onHeartbeat(packet: HeartbeatPacket): void {
    const node = this.core.registry.remote.nodes.get(packet.sender);
    if (node === undefined || node.instanceID !== packet.instanceID) {
      // A node we have not heard INFO from (it started before we could see it): ask for it.
      this.#discover(packet.sender);
      return;
    }
    node.lastSeen = Date.now();
    node.cpu = packet.cpu;
  }

  /** A peer's connection went away, or it said goodbye. */
  onNodeGone(nodeID: string, unexpected: boolean): void {
    if (!this.core.registry.remote.remove(nodeID)) return;
    const failed = this.core.pending.rejectNode(nodeID, unexpected ? "node lost" : "node left");
    this.core.registry.changed();
    this.core.logger[unexpected ? "warn" : "info"](
      { peer: nodeID, failedCalls: failed },
      `Node '${nodeID}' ${unexpected ? "lost" : "left"}`,
    );
    this.emit("$node.disconnected", { nodeID, unexpected });
    this.emit("$services.changed", { nodeID, local: false });
  }

  /** A peer's transport connection came up: ask it for its INFO right away. */
  onPeerUp(nodeID: string): void {
    if (!this.core.registry.remote.nodes.has(nodeID)) this.#discover(nodeID);
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

  #beat(): void {
    const now = Date.now();
    const beat: HeartbeatPacket = {
      sender: this.core.nodeID,
      instanceID: this.core.instanceID,
      cpu: this.#cpu(),
    };
    void send(this.core, this.core.topics.all("HEARTBEAT"), PacketType.HEARTBEAT, beat).catch(
      () => {},
    );
    // Cut off from the transporter, this node hears nobody: silence says nothing about the others.
    if (this.#offline) return;
    for (const node of [...this.core.registry.remote.nodes.values()]) {
      if (now - node.lastSeen > this.core.settings.heartbeatTimeout) this.onNodeGone(node.id, true);
    }
  }

  /** The transporter lost its connection: stop judging other nodes by their silence. */
  offline(): void {
    this.#offline = true;
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
    void send(this.core, this.core.topics.node("DISCOVER", nodeID), PacketType.DISCOVER, {
      sender: this.core.nodeID,
    }).catch(() => {});
  }

  #publish(topic: string): void {
    send(this.core, topic, PacketType.INFO, this.#info()).catch((err: unknown) =>
      this.core.logger.warn({ err }, "Could not announce this node"),
    );
  }

  #info(): InfoPacket {
    this.#seq += 1;
    return {
      sender: this.core.nodeID,
      instanceID: this.core.instanceID,
      seq: this.#seq,
      hostname: hostname(),
      services: this.#leaving ? [] : describeServices(this.core.registry),
      client: { type: "flotilla", version: VERSION },
    };
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

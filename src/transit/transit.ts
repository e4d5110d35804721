import { randomUUID } from "node:crypto";
import type { LocalNode, Remote } from "../broker/remote.js";
import {
  BrokerStoppedError,
  ConfigurationError,
  ServiceNotAvailableError,
} from "../errors/index.js";
import type { BreakerOptions } from "../middleware/resilience/breaker.js";
import { BreakerBoard } from "../middleware/resilience/breakers.js";
import type { Logger } from "../observability/logger.js";
import type { Discoverer } from "../registry/discoverers/discoverer.js";
import type { Registry } from "../registry/registry.js";
import type { Strategy } from "../registry/strategies/index.js";
import type { Serializer } from "../serializers/index.js";
import type { CallOptions, EventEnvelope } from "../service/call-types.js";
import type { Service } from "../service/service.js";
import type { ClusterAuth, Transporter } from "../transporters/transporter.js";
import type { BadPacketCounts } from "./bad-packets.js";
import { newTraffic, type TransitCore, type TransitSettings, type TransitTraffic } from "./core.js";
import { Discovery } from "./discovery.js";
import { PacketGuard } from "./guard.js";
import { Incoming } from "./incoming.js";
import { Membership } from "./membership.js";
import { Outgoing } from "./outgoing.js";
import { type Packet, PacketType } from "./packets.js";
import { PendingRequests } from "./pending.js";
import { RegistryLink } from "./registry-link.js";
import { Streams } from "./streams/index.js";
import { Topics } from "./topics.js";

/** What transit needs from its broker. */
export interface TransitDeps {
  nodeID: string;
  namespace: string;
  logger: Logger;
  registry: Registry;
  /** This node, as the work other nodes send reaches it. */
  local: LocalNode;
  /** Where packets and bytes are counted (the broker's metrics keep one across restarts). */
  traffic?: TransitTraffic | undefined;
}

/** Transit options of a broker. */
export interface TransitOptions {
  transporter: Transporter;
  serializer: Serializer;
  strategy: Strategy;
  settings: TransitSettings;
  maxCallLevel: number;
  requestTimeout: number;
  circuitBreaker: BreakerOptions | false | undefined;
  /** Proof of membership of the cluster, when the node has a secret (`src/security/`). */
  auth?: ClusterAuth | undefined;
  /** A registry center (etcd, ZooKeeper); `undefined`: discovery over the transporter. */
  discoverer?: Discoverer | undefined;
  /** How long `connect()` waits for an unreachable registry center, in ms (0: forever). */
  registryTimeout?: number | undefined;
}

/**
 * The wire side of a broker: subscribes this node's topics, decodes and checks every packet,
 * dispatches it (calls, answers, events, discovery), and routes outgoing calls and events to
 * other nodes. Bad packets are logged and dropped; nothing a peer sends can crash the node.
 */
export class Transit implements Remote {
  readonly core: TransitCore;
  readonly discovery: Discovery;
  /** The circuit breakers of the endpoints calls went to (`undefined`: `circuitBreaker: false`). */
  readonly breakers: BreakerBoard | undefined;
  readonly #incoming: Incoming;
  readonly #outgoing: Outgoing;
  /** Byte streams in flight to and from other nodes (a call's params or result). */
  readonly streams: Streams;
  readonly #deps: TransitDeps;
  /** Checks every incoming packet before anything acts on it. */
  readonly #guard: PacketGuard;
  /** Whether the transporter is connected to its server (or peers). */
  connected = false;
  /** Event groups whose queue this node consumes (broker-balanced mode). */
  readonly #groups = new Set<string>();
  readonly #auth: ClusterAuth | undefined;

  constructor(deps: TransitDeps, options: TransitOptions) {
    if (options.settings.balancing === "broker" && !options.transporter.capabilities.balancing) {
      throw new ConfigurationError(
        "balancing: 'broker' needs a transporter that balances (nats://, amqp://); this one does not.",
        "BALANCING_NOT_SUPPORTED",
      );
    }
    this.#deps = deps;

    this.#auth = options.auth;
    this.core = {
      nodeID: deps.nodeID,
      instanceID: randomUUID(),
      topics: new Topics(deps.namespace),
      serializer: options.serializer,
      transporter: options.transporter,
      logger: deps.logger,
      registry: deps.registry,
      pending: new PendingRequests(),
      settings: options.settings,
      traffic: deps.traffic ?? newTraffic(),
    };
    this.#guard = new PacketGuard(this.core);
    this.streams = new Streams(this.core);
    const emitInternal = (event: string, payload: unknown) =>
      deps.local.emitInternal(event, payload);
    // A caller that leaves no longer wants its answers: the handlers' `ctx.signal` aborts.
    const membership = new Membership(this.core, emitInternal, (nodeID) => {
      this.#incoming.callerLeft(nodeID);
      this.streams.peerGone(nodeID);
    });
    const registry =
      options.discoverer === undefined
        ? undefined
        : new RegistryLink(this.core, membership, options.discoverer, {
            namespace: deps.namespace,
            announcement: () => this.discovery.info(),
            startTimeout: options.registryTimeout ?? 30_000,
          });
    this.discovery = new Discovery(
      this.core,
      membership,
      options.strategy.needsLatency === true,
      registry,
    );
    this.#incoming = new Incoming(this.core, deps.local, this.streams);
    this.breakers =
      options.circuitBreaker === false
        ? undefined
        : new BreakerBoard(options.circuitBreaker ?? {}, (state, nodeID, action) => {
            this.core.logger.warn(
              { node: nodeID, action, state },
              `Circuit of '${action}' on '${nodeID}' is ${state}`,
            );
            emitInternal(
              `$circuit-breaker.${state === "half-open" ? "half-opened" : state === "open" ? "opened" : "closed"}`,
              { nodeID, action },
            );
          });
    this.#outgoing = new Outgoing(
      this.core,
      this.streams,
      options.strategy,
      options.maxCallLevel,
      options.requestTimeout,
      this.breakers,
    );
  }

  /** Connects, subscribes, announces this node, and starts routing to other nodes. */
  async connect(): Promise<void> {
    const { transporter, topics, nodeID } = this.core;
    let early: string[] | undefined = [];
    await transporter.connect({
      nodeID,
      namespace: this.#deps.namespace,
      logger: this.core.logger,
      maxPacketSize: this.core.settings.maxPacketSize,
      ...(this.#auth === undefined ? {} : { auth: this.#auth }),
      ...(this.discovery.registry === undefined ? {} : { peersFromDiscoverer: true }),
      onMessage: (topic, data, from) => this.#onMessage(topic, data, from),
      onPeerDown: (peer) => this.discovery.onNodeGone(peer, true),
      // Peers that come up before this node has subscribed are greeted once it has.
      onPeerUp: (peer) => (early ? early.push(peer) : this.discovery.onPeerUp(peer)),
      onConnection: (connected) => this.#connectionChanged(connected),
    });
    const kinds = ["REQ", "RES", "EVENT", "INFO", "DISCOVER", "PING", "PONG"] as const;
    await Promise.all([
      ...kinds.map((kind) => transporter.subscribe(topics.node(kind, nodeID))),
      ...(["DISCOVER", "INFO", "HEARTBEAT", "DISCONNECT"] as const).map((kind) =>
        transporter.subscribe(topics.all(kind)),
      ),
    ]);
    await this.discovery.start();
    this.connected = true;
    const greet = early;
    early = undefined;
    for (const peer of greet) this.discovery.onPeerUp(peer);
  }

  /** Who balances calls and emitted events (see `BrokerOptions.balancing`). */
  get balancing(): "registry" | "broker" {
    return this.core.settings.balancing;
  }

  call(
    name: string,
    params: unknown,
    opts: CallOptions | undefined,
    withLocal: boolean,
  ): Promise<unknown> | undefined {
    return this.#outgoing.call(name, params, opts, withLocal);
  }

  sendEvent(
    nodeID: string,
    event: EventEnvelope,
    groups: readonly string[] | null,
    broadcast: boolean,
    acked = false,
  ): Promise<void> {
    return this.#outgoing.sendEvent(nodeID, event, groups, broadcast, acked);
  }

  sendToGroups(event: EventEnvelope, groups: Iterable<string>): Promise<void> {
    return this.#outgoing.sendToGroups(event, groups);
  }

  /**
   * A local service started. In broker-balanced mode it joins its service's request queue and
   * its listener groups' event queues, so the broker can hand it work.
   */
  async serviceStarted(service: Service): Promise<void> {
    const { transporter, topics, registry, settings } = this.core;
    if (settings.balancing !== "broker") return;
    const durable = transporter.capabilities.persistentQueues === true;
    const callable = [...registry.actions.values()].some(
      (a) => a.service === service && (a.visibility === "public" || a.visibility === "published"),
    );
    const subscriptions: Promise<void>[] = [];
    if (callable) {
      const topic = topics.service(service.fullName);
      subscriptions.push(transporter.subscribe(topic, topic, { durable }));
    }
    const groups = new Set(
      registry.listeners.filter((l) => l.service === service).map((l) => l.group),
    );
    for (const group of groups) {
      if (this.#groups.has(group)) continue;
      this.#groups.add(group);
      const topic = topics.group(group);
      subscriptions.push(transporter.subscribe(topic, topic, { durable }));
    }
    await Promise.all(subscriptions);
  }

  /**
   * The transporter lost (or regained) its server. Back online, the node announces itself again,
   * since other nodes may have dropped it for missed heartbeats meanwhile.
   */
  #connectionChanged(connected: boolean): void {
    this.connected = connected;
    if (!connected) {
      // Answers to calls in flight cannot reach this node while it is cut off: fail them now,
      // retryably, instead of letting each wait out its deadline.
      this.discovery.offline();
      this.core.pending.rejectAll(
        (action, nodeID) =>
          new ServiceNotAvailableError(action, {
            nodeID,
            data: { action, nodeID, reason: "connection lost" },
          }),
      );
      this.core.logger.warn(
        "Transporter lost its connection; calls to other nodes fail until it is back",
      );
      return;
    }
    this.core.logger.info("Transporter reconnected; announcing this node again");
    this.discovery.reannounce();
  }

  /** Requests from other nodes being handled now. */
  get inFlight(): number {
    return this.#incoming.inFlight;
  }

  /** Says goodbye, fails what is still pending, and disconnects. */
  async disconnect(): Promise<void> {
    try {
      await this.discovery.stop();
    } catch (err) {
      this.core.logger.debug({ err }, "Could not say goodbye");
    }
    this.connected = false;
    this.core.pending.rejectAll(
      (action) => new BrokerStoppedError(this.core.nodeID, { data: { action } }),
    );
    this.streams.closeAll();
    await this.core.transporter.disconnect();
  }

  /**
   * Simulates a crash, for fault tests: no goodbye, timers stopped, connections dropped. Other
   * nodes must notice by themselves (lost connection or missed heartbeats).
   */
  async crash(): Promise<void> {
    await this.discovery.halt();
    this.connected = false;
    this.core.pending.rejectAll(
      (action) => new BrokerStoppedError(this.core.nodeID, { data: { action } }),
    );
    this.streams.closeAll();
    // No goodbye, nothing flushed, no acks: what a killed process leaves behind.
    const { transporter } = this.core;
    await (transporter.kill ? transporter.kill() : transporter.disconnect());
  }

  #onMessage(topic: string, data: Uint8Array, from?: string): void | Promise<void> {
    const traffic = this.core.traffic;
    traffic.packetsReceived++;
    traffic.bytesReceived += data.length;
    const packet = this.#guard.admit(topic, data, from);
    if (packet === undefined) return;
    try {
      // A queued (broker-balanced) request settles when answered, so the transporter can hold
      // its acknowledgement until then.
      if (packet.type === PacketType.REQUEST && packet.body.sentAt !== undefined) {
        return this.#incoming.request(packet.body);
      }
      this.#dispatch(packet);
    } catch (err) {
      this.#guard.failed(topic, packet, from, err);
    }
  }

  #dispatch(packet: Packet): void {
    const own = packet.body.sender === this.core.nodeID;
    const { discovery } = this;
    switch (packet.type) {
      case PacketType.REQUEST:
        this.#incoming.request(packet.body);
        break;
      case PacketType.RESPONSE:
        this.#incoming.response(packet.body);
        break;
      case PacketType.EVENT:
        this.#incoming.event(packet.body);
        break;
      case PacketType.DISCOVER:
        if (!own) discovery.onDiscover(packet.body.sender);
        break;
      case PacketType.INFO:
        if (own) this.#checkDuplicate(packet.body.instanceID);
        else discovery.onInfo(packet.body);
        break;
      case PacketType.HEARTBEAT:
        if (own) this.#checkDuplicate(packet.body.instanceID);
        else discovery.onHeartbeat(packet.body);
        break;
      case PacketType.PING:
        discovery.onPing(packet.body);
        break;
      case PacketType.PONG:
        discovery.onPong(packet.body);
        break;
      case PacketType.DISCONNECT:
        if (!own) discovery.onNodeGone(packet.body.sender, false);
        break;
      case PacketType.CANCEL:
        this.#incoming.cancel(packet.body);
        break;
      case PacketType.STREAM:
        this.streams.piece(packet.body);
        break;
      case PacketType.STREAM_ACK:
        this.streams.ack(packet.body);
        break;
    }
  }

  #checkDuplicate(instanceID: string): void {
    if (instanceID === this.core.instanceID) return;
    this.#guard.log.warn(
      "duplicate",
      { nodeID: this.core.nodeID },
      `Another node uses the node ID '${this.core.nodeID}'; node IDs must be unique`,
    );
  }

  /** Packets dropped since start, per peer and reason (see `broker.health()`). */
  get badPackets(): BadPacketCounts {
    return this.#guard.badPackets;
  }
}

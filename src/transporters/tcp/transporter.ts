import { randomUUID } from "node:crypto";
import {
  type AddressInfo,
  createServer,
  connect as dialTcp,
  isIP,
  type Server,
  type Socket,
} from "node:net";
import { createServer as createTlsServer, connect as dialTls } from "node:tls";
import { nameTooLong, notConnected } from "../errors.js";
import type { Transporter, TransporterCapabilities, TransporterContext } from "../transporter.js";
import { preHandshakeBudget } from "./connection.js";
import { FRAME_OVERHEAD, MAX_TOPIC_BYTES } from "./frames.js";
import { Mesh } from "./mesh.js";
import {
  type Address,
  advertisedAddress,
  isLoopback,
  isWildcard,
  parseAddress,
  type ResolvedTcpOptions,
  resolveTcpOptions,
  type TcpOptions,
} from "./options.js";
import { Rendezvous } from "./rendezvous.js";
import { Seeds } from "./seeds.js";
import { UdpDiscovery } from "./udp.js";

/** How long `subscribe()` waits for a peer to confirm it has read the subscription. */
const SUBSCRIBE_CONFIRM_TIMEOUT = 5000;
/** A connection still in its handshake after this long is dropped. */
const HANDSHAKE_TIMEOUT = 10_000;

/** Everything one connect() started, so disconnect() and kill() stop exactly that. */
interface Run {
  readonly server: Server;
  readonly mesh: Mesh;
  readonly seeds: Seeds;
  readonly address: Address;
  /** Where others dial this node (`advertise()`). */
  readonly advertised: string;
  /** Peers a discoverer named (`addPeer`), redialed every `rescanInterval` while not connected. */
  readonly named: Map<string, Address>;
  readonly redial: NodeJS.Timeout;
  rendezvous?: Rendezvous;
  udp?: UdpDiscovery;
}

/**
 * The embedded transporter: nodes talk over direct TCP connections, with no server to run.
 * Peers are found through a rendezvous directory on this machine, UDP announcements on the LAN,
 * static seeds, and a registry discoverer (`addPeer`); see `docs/transporters.md`. Subscriptions are kept across reconnects.
 * Capabilities: peer-aware; no broker-side balancing, nothing durable.
 *
 * @example
 * ```ts
 * const t = new TcpTransporter({ host: "127.0.0.1", udp: false });
 * await t.connect({ nodeID: "n1", namespace: "", logger, maxPacketSize: 16 << 20, onMessage: () => {} });
 * await t.subscribe("greetings");
 * await t.publish("greetings", new TextEncoder().encode("hi"));
 * ```
 */
export class TcpTransporter implements Transporter {
  readonly capabilities: TransporterCapabilities = {
    balancing: false,
    durable: false,
    peerAware: true,
    authenticates: true,
  };
  private readonly subs = new Set<string>();
  private readonly announcing = new Map<string, Promise<void>>();
  private run: Run | undefined;

  constructor(readonly options: TcpOptions = {}) {}

  /** Where this node listens, once connected. */
  get address(): Address | undefined {
    return this.run?.address;
  }

  /** NodeIDs of the peers with an open session right now. */
  get peers(): string[] {
    return this.run?.mesh.sessions ?? [];
  }

  /**
   * Listens, starts discovery, and resolves once the peers found at start (in the rendezvous
   * directory, and the seeds) have completed their handshake, or after `readyTimeout`.
   */
  async connect(context: TransporterContext): Promise<void> {
    if (this.run !== undefined) throw new Error("TcpTransporter is already connected.");
    const o = resolveTcpOptions(this.options, context);
    const logger = context.logger.child({ transporter: "tcp" });
    const server = listener(o);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port, o.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => logger.error({ err }, "tcp server error"));
    server.on("tlsClientError", (err: Error, socket: Socket) =>
      logger.debug(
        { err, peer: `${socket.remoteAddress}:${socket.remotePort}` },
        "TLS handshake failed",
      ),
    );
    const port = (server.address() as AddressInfo).port;
    if (!isLoopback(o.host) && context.auth === undefined) {
      logger.warn(
        { host: o.host, port },
        "Listening beyond this machine with no cluster secret: anyone who can reach this port can join the cluster. Set security.secret (or FLOTILLA_SECRET); see docs/security.md",
      );
    }
    const instance = randomUUID();
    const self = { nodeID: context.nodeID, namespace: context.namespace, host: o.host, port };
    const limits = {
      // A peer's frame may carry a payload of up to maxPacketSize with its topic; a longer one
      // is refused from its length prefix alone, before anything is buffered.
      maxFrameLength: o.maxPacketSize + FRAME_OVERHEAD,
      maxBufferedBytes: o.maxBufferedBytes,
      handshakeTimeout: HANDSHAKE_TIMEOUT,
      idleTimeout: o.idleTimeout,
      preHandshake: preHandshakeBudget(o.maxPacketSize + FRAME_OVERHEAD),
    };
    const mesh = new Mesh({ ...self, instance }, this.subs, context, limits, logger, dialer(o));
    const seeds = new Seeds(o.seeds, mesh, logger);
    mesh.onSessionDown = (nodeID) => seeds.sessionDown(nodeID);
    // With TLS, a connection reaches the mesh once its TLS handshake is done.
    server.on(o.tls === undefined ? "connection" : "secureConnection", (socket: Socket) =>
      mesh.accept(socket),
    );
    const named = new Map<string, Address>();
    // Rendezvous rescans find absent peers again; peers named by a discoverer are redialed here.
    const redial = setInterval(() => {
      for (const [nodeID, address] of named) mesh.discovered(nodeID, address);
    }, o.rescanInterval);
    redial.unref();
    const advertised = advertisedAddress(o, port);
    const run: Run = {
      server,
      mesh,
      seeds,
      address: { host: o.host, port },
      advertised,
      named,
      redial,
    };
    this.run = run;
    const found = (nodeID: string, address: Address) => mesh.discovered(nodeID, address);
    seeds.start();
    if (o.dir !== undefined) {
      // Peers on this machine can always reach us on loopback, whatever interface we listen on.
      const host = isWildcard(o.host) ? "127.0.0.1" : o.host;
      const entry = { ...self, host, pid: process.pid, startedAt: Date.now(), instance };
      const rendezvous = new Rendezvous(o.dir, entry, found, logger, o.rescanInterval);
      run.rendezvous = rendezvous;
      await rendezvous.start().catch((err: unknown) => {
        logger.warn({ err, dir: o.dir }, "rendezvous directory unusable; continuing without it");
      });
    }
    if (this.run !== run) return; // disconnected (or killed) while the directory was scanned
    if (o.udp !== undefined) {
      run.udp = new UdpDiscovery(o.udp, self, found, logger);
      run.udp.start();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      mesh.settled(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, o.readyTimeout);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Says goodbye to every peer, flushes, closes, and removes this node's rendezvous entry. */
  async disconnect(): Promise<void> {
    const run = this.run;
    if (run === undefined) return;
    this.run = undefined;
    clearInterval(run.redial);
    run.seeds.stop();
    run.udp?.stop();
    await run.rendezvous?.stop();
    await run.mesh.close(true);
    await new Promise((resolve) => run.server.close(resolve));
  }

  /**
   * Simulates a crash, for tests: every socket is destroyed with no goodbye and the rendezvous
   * entry stays behind, as a killed process would leave things. Peers see `onPeerDown`.
   */
  async kill(): Promise<void> {
    const run = this.run;
    if (run === undefined) return;
    this.run = undefined;
    clearInterval(run.redial);
    run.seeds.stop();
    run.udp?.stop();
    run.server.close();
    await run.rendezvous?.stop(true);
    await run.mesh.close(false);
  }

  /** `host:port` where other nodes dial this one (see `TcpOptions.advertise`), once connected. */
  advertise(): string | undefined {
    return this.run?.advertised;
  }

  /**
   * A discoverer found `nodeID` at `address` (`host:port`): dial it now, and again every
   * `rescanInterval` (with backoff after failures) until a session is up, while it is listed.
   */
  addPeer(nodeID: string, address: string): void {
    const run = this.run;
    if (run === undefined || nodeID === run.mesh.nodeID) return;
    const parsed = parseAddress(address);
    run.named.set(nodeID, parsed);
    run.mesh.discovered(nodeID, parsed);
  }

  /** Whether a session with `nodeID` is open. */
  hasPeer(nodeID: string): boolean {
    return this.run?.mesh.hasSession(nodeID) ?? false;
  }

  /** The discoverer no longer lists `nodeID`: stop redialing it (an open session stays). */
  removePeer(nodeID: string): void {
    this.run?.named.delete(nodeID);
  }

  /** Cuts the session with `nodeID`, a peer that keeps sending bad packets (see `Transporter`). */
  dropPeer(nodeID: string): void {
    this.run?.mesh.drop(nodeID);
  }

  /**
   * Subscribes to `topic` (a `group` is ignored: tcp does no broker-side balancing). Resolves
   * once every connected peer has read the subscription, so their next publish reaches us.
   */
  async subscribe(topic: string, _group?: string): Promise<void> {
    if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES)
      throw nameTooLong("topic", topic, MAX_TOPIC_BYTES);
    // A second call while the first still waits for confirmations waits for the same ones.
    const inFlight = this.announcing.get(topic);
    if (inFlight !== undefined) return inFlight;
    if (this.subs.has(topic)) return;
    this.subs.add(topic);
    const announced = this.run?.mesh.announceSubscription(topic, SUBSCRIBE_CONFIRM_TIMEOUT);
    if (announced === undefined) return;
    this.announcing.set(topic, announced);
    await announced.finally(() => this.announcing.delete(topic));
  }

  /**
   * Sends `data` to every peer subscribed to `topic`, and to this node if it subscribed.
   * `data` is written as is: do not change it after the call. Its size is transit's to check
   * (`maxPacketSize`); a peer drops the connection of a frame over its own limit.
   */
  async publish(topic: string, data: Uint8Array): Promise<void> {
    const run = this.run;
    if (run === undefined) throw notConnected("tcp");
    const sent = run.mesh.publish(topic, data);
    if (this.subs.has(topic)) {
      // A copy: the local receiver must not see (or make) changes to bytes still being written.
      const copy = new Uint8Array(data);
      queueMicrotask(() => this.run === run && run.mesh.deliver(topic, copy, run.mesh.nodeID));
    }
    await sent;
  }
}

/** The server: plain TCP, or TLS (a peer's certificate required and checked with `tlsMutual`). */
function listener(o: ResolvedTcpOptions): Server {
  const tls = o.tls;
  if (tls === undefined) return createServer();
  return createTlsServer({
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    requestCert: tls.mutual,
    rejectUnauthorized: tls.mutual,
    minVersion: "TLSv1.2",
    // A stranger that opens a socket and says nothing is cut off as a stalled handshake would be.
    handshakeTimeout: HANDSHAKE_TIMEOUT,
  });
}

/** Opens sockets to peers: plain, or TLS checked against the CA and the dialed host's name. */
function dialer(o: ResolvedTcpOptions): (address: Address) => Socket {
  const tls = o.tls;
  if (tls === undefined) return ({ host, port }) => dialTcp({ host, port });
  return ({ host, port }) =>
    dialTls({
      host,
      port,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      // Presented when the peer asks for it (mutual TLS).
      cert: tls.cert,
      key: tls.key,
      minVersion: "TLSv1.2",
    });
}

import type { LocalAction } from "../registry/local.js";
import type { CallOptions, ContextHost, EventEnvelope } from "../service/call-types.js";
import type { Service } from "../service/service.js";
import type { Context } from "../service/types.js";

/**
 * The edges between a broker and the wire. The broker owns both interfaces: transit implements
 * {@link Remote} (the rest of the cluster, as the broker uses it) and calls {@link LocalNode}
 * (this node, as work from other nodes reaches it). Neither side writes into the other's fields.
 */

/** One event that arrived from another node. */
export interface IncomingEvent extends EventEnvelope {
  /** The node that sent it. */
  readonly sender: string;
  /** The groups it is for (`null`: every group that listens). */
  readonly groups: readonly string[] | null;
  /** Every listener of those groups gets it, not one per group. */
  readonly broadcast: boolean;
}

/** The other nodes of the cluster, as the broker reaches them; implemented by transit. */
export interface Remote {
  /** Whether the transporter is connected to its server (or peers) now. */
  readonly connected: boolean;
  /**
   * Sends a call to another node; `undefined` when no other node offers the action or, with
   * `withLocal`, when the strategy picked this node's own instance.
   */
  call(
    name: string,
    params: unknown,
    opts: CallOptions | undefined,
    withLocal: boolean,
  ): Promise<unknown> | undefined;
  /**
   * Sends an event to one node, for the listeners of `groups` there (`null` with `broadcast`:
   * every listener). Resolves once the packet is handed to the transporter or, `acked`, once
   * the node's durable handlers settled it; rejects then with a retryable
   * `DURABLE_PUBLISH_FAILED` when the node is lost, refuses it or does not answer in time.
   */
  sendEvent(
    nodeID: string,
    event: EventEnvelope,
    groups: readonly string[] | null,
    broadcast: boolean,
    acked?: boolean,
  ): Promise<void>;
  /**
   * Broker-balanced mode: hands the event to each group's queue, and the message broker picks
   * the member. Resolves once every queue has it.
   */
  sendToGroups(event: EventEnvelope, groups: Iterable<string>): Promise<void>;
  /** A local service started: in broker-balanced mode, its queues are joined. */
  serviceStarted(service: Service): Promise<void>;
  /** Who balances: this node from its registry, or the message broker through queues. */
  readonly balancing: "registry" | "broker";
}

/** This node, as transit hands it the work that other nodes send; implemented by the broker. */
export interface LocalNode {
  /** Contexts of incoming calls and events are built on it. */
  readonly host: ContextHost;
  /** False once the broker stops taking calls: incoming requests are refused. */
  readonly acceptingCalls: boolean;
  /** Runs a call that came from another node on a local action. */
  callFromRemote(action: LocalAction, ctx: Context<unknown>): Promise<unknown>;
  /**
   * Delivers an event that came from another node to this node's listeners. With `acked`, the
   * returned promise settles once the durable handlers it reached have settled it (handled or
   * dead-lettered), and rejects when this node no longer takes events.
   */
  receiveEvent(event: IncomingEvent, acked: boolean): Promise<void> | undefined;
  /** Raises an internal event (`$node.connected`, ...) for this node's handlers only. */
  emitInternal(event: string, payload: unknown): void;
}

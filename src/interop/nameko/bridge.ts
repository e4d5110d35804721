import type { ServiceBroker } from "../../broker/broker.js";
import { getInternals } from "../../broker/internals.js";
import {
  BrokerStoppedError,
  ConfigurationError,
  RequestTimeoutError,
  TransporterNotConnectedError,
} from "../../errors/index.js";
import type { Middleware } from "../../middleware/hooks.js";
import type { CallOptions, EmitOptions, Meta } from "../../service/call-types.js";
import { RpcClient } from "./client.js";
import { META_KEY, outgoingContext } from "./context.js";
import { EventBridge } from "./events.js";
import { NamekoLink } from "./link.js";
import { splitEventName } from "./names.js";
import {
  type NamekoBridgeOptions,
  type ResolvedNamekoOptions,
  resolveNamekoOptions,
} from "./options.js";
import { RpcServer } from "./server.js";

/**
 * A Flotilla node as a peer of a nameko 2.x cluster on RabbitMQ, beside the node's own
 * transporter: a middleware that routes calls and events of nameko services over nameko's
 * conventions, and serves nameko's calls and events to local services. Made by
 * {@link namekoBridge}.
 */
export class NamekoBridge {
  /** The middleware the broker runs; {@link namekoBridge} adds it for you. */
  readonly middleware: Middleware;
  readonly #options: ResolvedNamekoOptions;
  #link: NamekoLink | undefined;
  #client: RpcClient | undefined;
  #server: RpcServer | undefined;
  #events: EventBridge | undefined;
  /** Local services served to nameko, fixed when the broker has started. */
  #exposed = new Set<string>();

  constructor(
    private readonly broker: ServiceBroker,
    options: NamekoBridgeOptions,
  ) {
    this.#options = resolveNamekoOptions(options, broker.options);
    this.middleware = {
      name: "nameko",
      starting: () => this.#open(),
      started: () => this.#serve(),
      stopping: () => this.#quiesce(),
      stopped: () => this.#close(new BrokerStoppedError(broker.nodeID)),
      call: (next) => (name, params, opts) => {
        const target = this.#namekoTarget(name);
        return target === undefined ? next(name, params, opts) : this.#call(target, params, opts);
      },
      emit: (next) => (event, payload, opts) => this.#emit(next, event, payload, opts),
      broadcast: (next) => (event, payload, opts) => this.#emit(next, event, payload, opts),
    };
  }

  /** Whether the bridge has its connection to RabbitMQ now. */
  get connected(): boolean {
    return this.#link !== undefined;
  }

  /** The local services nameko may call (once the broker has started). */
  get exposed(): readonly string[] {
    return [...this.#exposed];
  }

  /** The queues of local handlers of nameko events (once the broker has started). */
  get eventQueues(): readonly string[] {
    return this.#events?.queues ?? [];
  }

  /** `greeter.hello` → `["greeter", "hello"]` when `greeter` is a nameko service. */
  #namekoTarget(name: string): [string, string] | undefined {
    const dot = name.lastIndexOf(".");
    if (dot <= 0) return undefined;
    const service = name.slice(0, dot);
    return this.#options.services.has(service) ? [service, name.slice(dot + 1)] : undefined;
  }

  async #open(): Promise<void> {
    const { url, rpcExchange, name, maxMessageSize } = this.#options;
    const logger = this.broker.logger.child({ bridge: "nameko" });
    const link = await NamekoLink.open(url, logger, (err) => {
      logger.error({ err }, "nameko bridge lost its RabbitMQ connection");
      void this.#close(new TransporterNotConnectedError("The nameko bridge lost its connection."));
    });
    this.#link = link;
    await link.exchange(rpcExchange);
    this.#client = new RpcClient(link, rpcExchange, name, maxMessageSize, logger);
    await this.#client.start();
    const { emitter } = getInternals(this.broker);
    this.#events = new EventBridge(link, maxMessageSize, (l, init) => emitter.run(l, init), logger);
    this.#server = new RpcServer(link, rpcExchange, maxMessageSize, this.#rpcHost(), logger);
  }

  /** Once local services run: serves their queues, and subscribes handlers of nameko events. */
  async #serve(): Promise<void> {
    const registry = this.broker.registry;
    const local = [...registry.services.keys()].filter((s) => !s.startsWith("$"));
    this.#exposed = new Set(this.#options.expose ?? local);
    for (const service of this.#exposed) {
      if (!registry.services.has(service)) {
        throw new ConfigurationError(
          `namekoBridge: exposed service '${service}' is not created on this node.`,
          "INVALID_NAMEKO_OPTIONS",
        );
      }
      await this.#server?.expose(service);
    }
    for (const listener of registry.listeners) {
      const source = splitEventName(listener.event)?.source;
      if (source !== undefined && this.#options.services.has(source)) {
        await this.#events?.subscribe(listener);
      }
    }
  }

  #rpcHost() {
    const broker = this.broker;
    return {
      has: (action: string): boolean => {
        const found = broker.registry.actions.get(action);
        return (
          found !== undefined &&
          this.#exposed.has(found.service.fullName) &&
          (found.visibility === "public" || found.visibility === "published")
        );
      },
      call: (action: string, params: Record<string, unknown>, context: object) =>
        broker.call(action, params, { nodeID: broker.nodeID, meta: { [META_KEY]: context } }),
    };
  }

  #call([service, method]: [string, string], params: unknown, opts: CallOptions | undefined) {
    const client = this.#client;
    if (client === undefined) {
      return Promise.reject(
        new TransporterNotConnectedError("The nameko bridge is not connected; start the broker."),
      );
    }
    const parent = opts?.parentCtx;
    const timeout =
      opts?.timeout ??
      (parent !== undefined && parent.deadline !== 0 ? parent.remaining : this.#options.timeout);
    if (timeout < 0 || (timeout === 0 && parent !== undefined && parent.deadline !== 0)) {
      return Promise.reject(new RequestTimeoutError(`${service}.${method}`, 0));
    }
    const context = outgoingContext(mergedMeta(opts), parent?.name);
    return client.call(service, method, params, { context, timeout: Math.ceil(timeout) });
  }

  async #emit(
    next: (event: string, payload: unknown, opts: EmitOptions | undefined) => Promise<void>,
    event: string,
    payload: unknown,
    opts: EmitOptions | undefined,
  ): Promise<void> {
    await next(event, payload, opts);
    const source = splitEventName(event)?.source;
    if (source === undefined || event.startsWith("$")) return;
    const dispatch = this.#options.dispatch ?? this.#exposed;
    if (!dispatch.has(source)) return;
    if (this.#events === undefined) {
      throw new TransporterNotConnectedError(
        "The nameko bridge is not connected; start the broker.",
      );
    }
    await this.#events.dispatch(
      event,
      payload,
      outgoingContext(mergedMeta(opts), opts?.parentCtx?.name),
    );
  }

  /** Takes no more calls or events from nameko, and lets those in hand finish. */
  async #quiesce(): Promise<void> {
    await this.#server?.stopConsuming();
    await this.#events?.stop();
    await this.#server?.drain(this.broker.options.drainTimeout ?? 10_000);
  }

  async #close(reason: unknown): Promise<void> {
    const link = this.#link;
    this.#link = undefined;
    const client = this.#client;
    this.#client = undefined;
    this.#server = undefined;
    this.#events = undefined;
    await client?.stop(reason);
    await link?.close();
  }
}

/** The caller's meta merged over its parent's, as the broker merges them. */
function mergedMeta(opts: CallOptions | EmitOptions | undefined): Meta | undefined {
  const parent = opts?.parentCtx?.meta;
  if (opts?.meta === undefined) return parent;
  return parent === undefined ? opts.meta : { ...parent, ...opts.meta };
}

/**
 * Joins this node to a nameko 2.x cluster on RabbitMQ, beside its own transporter: calls to the
 * listed nameko `services` go to them (params as kwargs, arrays as positional args), nameko may
 * call the exposed local services (`rpc-<service>`), and events cross both ways with nameko's
 * handler types. Call it before `broker.start()`; the bridge connects when the broker starts.
 *
 * @example
 * ```ts
 * const broker = new ServiceBroker({ transporter: "amqp://guest:guest@127.0.0.1:5672" });
 * broker.createService(orders);
 * namekoBridge(broker, { url: "amqp://guest:guest@127.0.0.1:5672/", services: ["greeter"] });
 * await broker.start();
 * const text = await broker.call("greeter.hello", { name: "Ada" });
 * ```
 */
export function namekoBridge(broker: ServiceBroker, options: NamekoBridgeOptions): NamekoBridge {
  if (broker.state === "started" || broker.state === "starting") {
    throw new ConfigurationError(
      "namekoBridge: attach the bridge before broker.start().",
      "INVALID_NAMEKO_OPTIONS",
    );
  }
  const bridge = new NamekoBridge(broker, options);
  broker.use(bridge.middleware);
  return bridge;
}

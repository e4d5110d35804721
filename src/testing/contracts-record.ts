import type { ServiceBroker } from "../broker/broker.js";
import { FlotillaError } from "../errors/index.js";
import type { Middleware } from "../middleware/hooks.js";
import type { EmitOptions } from "../service/call-types.js";
import {
  ANY_PROVIDER,
  CONTRACT_FORMAT,
  type ConsumerContract,
  type Interaction,
  stableJSON,
  writeContracts,
} from "./contracts-file.js";
import { type JsonValue, mergeShapes, shapeOf, wireValue } from "./contracts-shape.js";

/** Options of {@link recordContracts}. */
export interface RecordContractsOptions {
  /** The service whose tests these are: its name (`orders`) or full name (`v2.orders`). */
  consumer: string;
  /** Where the contract files go (one per provider), e.g. a folder the providers' CI reads. */
  dir: string;
  /**
   * When the consumer records from several test files: a name per file, so each writes its own
   * files (`orders--products--checkout.json`) instead of replacing the others'.
   */
  suite?: string;
  /**
   * Who is on the other side of an event, when the names do not say: for an event the consumer
   * handles, the service that emits it (default: the emitting service when a test emits it from
   * a handler, else the event name's first part, `products` for `products.changed`); for one it
   * emits, the services that handle it (default: those on the test broker, else any).
   */
  eventProviders?: Readonly<Record<string, string | readonly string[]>>;
}

/** Records what a consumer's tests rely on; see {@link recordContracts}. */
export interface ContractRecorder {
  /** The consumer, as given. */
  readonly consumer: string;
  /**
   * Names the provider state the following interactions assume (`"product 1 exists"`), until
   * called again (`undefined` clears it). The provider's verification sets the state up first.
   */
  given(state: string | undefined): void;
  /** What was recorded so far: one contract per provider, sorted. */
  contracts(): ConsumerContract[];
  /**
   * Writes one file per provider into `dir` (replacing this consumer's earlier files, and
   * removing those of providers it no longer relies on). Returns the paths written. Call it once
   * the suite is done (`afterAll`).
   */
  write(): Promise<string[]>;
  /** Stops recording (what was recorded stays, and can still be written). */
  stop(): void;
}

/**
 * Errors that say something about the call's path rather than the provider's answer: a consumer
 * that met one did not learn how the provider answers, so nothing is recorded.
 */
const NOT_AN_ANSWER = new Set([
  "SERVICE_NOT_FOUND",
  "SERVICE_NOT_AVAILABLE",
  "VALIDATION_ERROR",
  "REQUEST_TIMEOUT",
  "MAX_CALL_LEVEL",
  "BROKER_STOPPED",
  "QUEUE_FULL",
  "CIRCUIT_OPEN",
  "PACKET_TOO_LARGE",
  "TRANSPORTER_NOT_CONNECTED",
]);

/**
 * Records, on a consumer's test broker, what the consumer relies on from other services: every
 * call its handlers make to another service's action (what it sent, and the shape of what the
 * mock — `mockAction`, `replaceService` — or real action answered, or the error code), every
 * event its handlers emit (the payload), and every event its handlers receive from elsewhere
 * (the payload's shape). `write()` turns it into contract files that the providers verify
 * against their real services with `verifyContracts`.
 *
 * @example
 * ```ts
 * const broker = createTestBroker();
 * broker.createService(orders);
 * broker.createService(products); // or a stub with the same name
 * const contracts = recordContracts(broker, { consumer: "orders", dir: "contracts" });
 * await broker.start();
 * mockAction(broker, "products.get", { id: 1, price: 9.5 });
 * await broker.call("orders.place", { productId: 1 });
 * await contracts.write(); // contracts/orders--products.json
 * ```
 */
export function recordContracts(
  broker: ServiceBroker,
  options: RecordContractsOptions,
): ContractRecorder {
  const { consumer } = options;
  const byProvider = new Map<string, Map<string, Interaction>>();
  let state: string | undefined;
  let recording = true;

  const isConsumer = (fullName: string | undefined): boolean =>
    fullName !== undefined &&
    (fullName === consumer || fullName.slice(fullName.lastIndexOf(".") + 1) === consumer);

  const add = (providers: readonly string[], interaction: Interaction): void => {
    for (const provider of providers) {
      let interactions = byProvider.get(provider);
      if (interactions === undefined) {
        interactions = new Map();
        byProvider.set(provider, interactions);
      }
      const key = keyOf(interaction);
      const known = interactions.get(key);
      interactions.set(key, known === undefined ? interaction : merged(known, interaction));
    }
  };

  const providersOfEvent = (event: string): string[] | undefined => {
    const named = options.eventProviders?.[event];
    return named === undefined ? undefined : [named].flat();
  };

  const recordEmit = (event: string, payload: unknown, opts: EmitOptions | undefined): void => {
    if (!recording || event.startsWith("$") || !isConsumer(opts?.parentCtx?.service?.fullName))
      return;
    const handlers = [
      ...new Set(
        broker.registry
          .listenersFor(event)
          .map((l) => l.service.fullName)
          .filter((s) => !isConsumer(s)),
      ),
    ];
    const providers = providersOfEvent(event) ?? (handlers.length > 0 ? handlers : [ANY_PROVIDER]);
    const sent = sendable(payload);
    if (sent === undefined) return;
    const base = { kind: "emit", event, payload: sent.value ?? null } as const;
    add(providers, state === undefined ? base : { ...base, given: state });
  };

  const middleware: Middleware = {
    name: "consumer-contracts",
    call(next) {
      return async (name, params, opts) => {
        if (!recording || !isConsumer(opts?.parentCtx?.service?.fullName)) {
          return next(name, params, opts);
        }
        const provider = providerOfAction(broker, name);
        const sent = sendable(params);
        if (isConsumer(provider) || sent === undefined) return next(name, params, opts);
        const base = {
          kind: "call",
          action: name,
          params: sent.value ?? {},
          ...(state === undefined ? {} : { given: state }),
        } as const;
        let result: unknown;
        try {
          result = await next(name, params, opts);
        } catch (err) {
          if (err instanceof FlotillaError && !NOT_AN_ANSWER.has(err.code)) {
            add([provider], { ...base, error: { code: err.code } });
          }
          throw err;
        }
        const got = sendable(result);
        if (got !== undefined) {
          add([provider], got.value === undefined ? base : { ...base, result: shapeOf(got.value) });
        }
        return result;
      };
    },
    emit(next) {
      return (event, payload, opts) => {
        recordEmit(event, payload, opts);
        return next(event, payload, opts);
      };
    },
    broadcast(next) {
      return (event, payload, opts) => {
        recordEmit(event, payload, opts);
        return next(event, payload, opts);
      };
    },
    localEvent(next, listener) {
      if (!isConsumer(listener.service.fullName)) return next;
      return (ctx) => {
        // Outside the validation middleware: the payload as the provider sent it.
        const fromOutside = recording && !ctx.name.startsWith("$") && !isConsumer(ctx.caller);
        const received = fromOutside ? sendable(ctx.params) : undefined;
        if (received !== undefined) {
          const providers = providersOfEvent(ctx.name) ?? [ctx.caller ?? firstPart(ctx.name)];
          const payload = shapeOf(received.value ?? null);
          const base = { kind: "handle", event: ctx.name, payload } as const;
          add(providers, state === undefined ? base : { ...base, given: state });
        }
        return next(ctx);
      };
    },
  };
  broker.use(middleware);

  const contracts = (): ConsumerContract[] =>
    [...byProvider.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([provider, interactions]) => ({
        format: CONTRACT_FORMAT,
        consumer,
        provider,
        ...(options.suite === undefined ? {} : { suite: options.suite }),
        interactions: [...interactions.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([, interaction]) => interaction),
      }));

  return {
    consumer,
    given(name) {
      state = name;
    },
    contracts,
    write: () => writeContracts(options.dir, consumer, options.suite, contracts()),
    stop() {
      recording = false;
    },
  };
}

/** The full name of the service that serves `action`: here, on another node, or by its name. */
function providerOfAction(broker: ServiceBroker, action: string): string {
  const local = broker.registry.actions.get(action);
  if (local !== undefined) return local.service.fullName;
  const remote = broker.registry.remote.actionEndpoints(action)[0];
  return remote?.service ?? action.slice(0, Math.max(0, action.lastIndexOf(".")));
}

/**
 * The value as it would cross the wire, or `undefined` when it could not (a cycle, a BigInt):
 * then nothing is recorded, and the consumer's call goes on as if no recorder were there.
 */
function sendable(value: unknown): { value: JsonValue | undefined } | undefined {
  try {
    return { value: wireValue(value) };
  } catch {
    return undefined;
  }
}

function firstPart(event: string): string {
  const dot = event.indexOf(".");
  return dot === -1 ? event : event.slice(0, dot);
}

/**
 * Interactions that differ only in what came back are one: kind, member, state and what was
 * sent (and, for a call, whether it failed and how).
 */
function keyOf(interaction: Interaction): string {
  const given = interaction.given ?? "";
  switch (interaction.kind) {
    case "call": {
      const outcome = interaction.error === undefined ? "ok" : `error:${interaction.error.code}`;
      return `call\u0000${interaction.action}\u0000${given}\u0000${stableJSON(interaction.params)}\u0000${outcome}`;
    }
    case "emit":
      return `emit\u0000${interaction.event}\u0000${given}\u0000${stableJSON(interaction.payload)}`;
    case "handle":
      return `handle\u0000${interaction.event}\u0000${given}`;
  }
}

/** The same interaction seen twice: what came back is merged (fields seen once become optional). */
function merged(known: Interaction, next: Interaction): Interaction {
  if (known.kind === "handle" && next.kind === "handle") {
    return { ...known, payload: mergeShapes(known.payload, next.payload) };
  }
  if (known.kind === "call" && next.kind === "call") {
    if (known.result === undefined) return next;
    if (next.result === undefined) return known;
    return { ...known, result: mergeShapes(known.result, next.result) };
  }
  return known;
}

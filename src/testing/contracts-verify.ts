import { randomUUID } from "node:crypto";
import type { ServiceBroker } from "../broker/broker.js";
import { CallContext } from "../broker/context.js";
import { FlotillaError } from "../errors/index.js";
import { isStandardSchema } from "../middleware/validation/standard.js";
import type { LocalListener } from "../registry/local.js";
import { capture, type EventTrigger } from "./contracts-capture.js";
import {
  ANY_PROVIDER,
  type CallInteraction,
  type ConsumerContract,
  type EmitInteraction,
  type HandleInteraction,
  type Interaction,
  readContracts,
} from "./contracts-file.js";
import {
  ContractBrokenError,
  type ContractFailure,
  type ContractReport,
} from "./contracts-report.js";
import { compareShape, type JsonValue, type ShapeMismatch, wireValue } from "./contracts-shape.js";

/** Sets up a provider state a consumer's interactions assume (seeds data, mocks a dependency). */
export type ProviderState = (broker: ServiceBroker) => unknown;

/** Options of {@link verifyContracts}. */
export interface VerifyContractsOptions {
  /** The provider's full name, as consumers called it: `products`, `v2.users`. */
  provider: string;
  /** The folder of contract files (every consumer's; those of other providers are left alone). */
  dir: string;
  /** The provider states consumers named (`recorder.given(...)`), each run before its interactions. */
  states?: Readonly<Record<string, ProviderState>>;
  /**
   * For each event a consumer handles that this provider emits: how to make it emit one. The
   * payloads emitted while it runs must keep the fields the consumer saw.
   */
  events?: Readonly<Record<string, EventTrigger>>;
  /**
   * Run the real handlers (default `true`): call each recorded action and compare its result,
   * deliver each recorded event. `false` checks params and payloads against schemas only.
   */
  run?: boolean;
  /** How long a trigger's event may take to show up, in ms. Default 5 000. */
  timeout?: number;
}

/**
 * Verifies, in a provider's test suite, every interaction its consumers recorded
 * (`recordContracts`) against the real service on `broker` (a started test broker with the
 * provider and its own dependencies mocked): each action a consumer calls still exists and
 * accepts the params it sent, and (when run) answers with every field the consumer saw, with a
 * compatible type, or with the error code it expects; each event a consumer emits is accepted by
 * the provider's handler; each event a consumer handles still carries the fields it saw. Throws
 * {@link ContractBrokenError} naming the consumer, the action or event and the field of each
 * broken one; otherwise resolves with the report.
 *
 * @example
 * ```ts
 * const broker = createTestBroker();
 * broker.createService(products);
 * await broker.start();
 * await verifyContracts(broker, { provider: "products", dir: "contracts" });
 * ```
 */
export async function verifyContracts(
  broker: ServiceBroker,
  options: VerifyContractsOptions,
): Promise<ContractReport> {
  const { provider } = options;
  const contracts = (await readContracts(options.dir)).filter(
    (c) => c.provider === provider || c.provider === ANY_PROVIDER,
  );
  const failures: ContractFailure[] = [];
  const skipped: string[] = [];
  const consumers = new Set<string>();
  let verified = 0;
  for (const contract of contracts) {
    for (const interaction of contract.interactions) {
      const check = new Check(broker, options, contract, interaction, failures);
      const outcome = await check.run();
      if (outcome === "not-mine") continue;
      consumers.add(contract.consumer);
      if (outcome === "skipped") skipped.push(`${contract.consumer}: ${describe(interaction)}`);
      else verified += 1;
    }
  }
  const report = {
    provider,
    consumers: [...consumers].sort(),
    verified,
    skipped,
    failures,
  };
  if (failures.length > 0) throw new ContractBrokenError(report);
  return report;
}

/** Verifies one interaction of one contract, adding what fails to `failures`. */
class Check {
  constructor(
    private readonly broker: ServiceBroker,
    private readonly options: VerifyContractsOptions,
    private readonly contract: ConsumerContract,
    private readonly interaction: Interaction,
    private readonly failures: ContractFailure[],
  ) {}

  /** Whether real handlers run (`run` option), or only schemas are checked. */
  get #runsHandlers(): boolean {
    return this.options.run !== false;
  }

  async run(): Promise<"verified" | "skipped" | "not-mine"> {
    const i = this.interaction;
    if (i.kind === "call") {
      if (this.contract.provider === ANY_PROVIDER) return "not-mine";
      await this.#call(i);
      return "verified";
    }
    if (i.kind === "emit") return this.#emit(i);
    if (this.contract.provider === ANY_PROVIDER) return "not-mine";
    if (!this.#runsHandlers) return "skipped";
    await this.#handle(i);
    return "verified";
  }

  async #call(i: CallInteraction): Promise<void> {
    const action = this.broker.registry.actions.get(i.action);
    if (action === undefined || action.service.fullName !== this.options.provider) {
      this.#fail(undefined, `'${this.options.provider}' has no such action any more`);
      return;
    }
    if (!(await this.#accepts(action.definition.params, i.params, "params"))) return;
    if (!this.#runsHandlers || !(await this.#state())) return;
    let result: unknown;
    try {
      result = await this.broker.call(i.action, i.params);
    } catch (err) {
      const code = err instanceof FlotillaError ? err.code : "INTERNAL_ERROR";
      if (code === i.error?.code) return;
      const expected = i.error === undefined ? "a result" : `the error ${i.error.code}`;
      this.#fail(
        undefined,
        `fails with ${code} (${errorText(err)}) where '${this.contract.consumer}' expects ${expected}${this.#stateHint()}`,
      );
      return;
    }
    if (i.error !== undefined) {
      this.#fail(
        undefined,
        `answers with a result where '${this.contract.consumer}' expects the error ${i.error.code}`,
      );
      return;
    }
    if (i.result === undefined) return;
    this.#mismatches(compareShape(wireValue(result), i.result), "result");
  }

  async #emit(i: EmitInteraction): Promise<"verified" | "not-mine"> {
    const provider = this.options.provider;
    const listeners = this.broker.registry
      .listenersFor(i.event)
      .filter((l) => l.service.fullName === provider);
    if (listeners.length === 0) {
      if (this.contract.provider === ANY_PROVIDER) return "not-mine";
      this.#fail(undefined, `'${provider}' no longer handles it`);
      return "verified";
    }
    for (const listener of listeners) {
      if (!(await this.#accepts(listener.definition.params, i.payload, "payload"))) continue;
      if (this.#runsHandlers && (await this.#state())) await this.#deliver(listener, i.payload);
    }
    return "verified";
  }

  async #handle(i: HandleInteraction): Promise<void> {
    const trigger = this.options.events?.[i.event];
    if (trigger === undefined) {
      this.#fail(
        undefined,
        `'${this.contract.consumer}' handles it: give verifyContracts a trigger that makes ` +
          `'${this.options.provider}' emit it (events: { "${i.event}": (broker) => ... })`,
      );
      return;
    }
    if (!(await this.#state())) return;
    let payloads: unknown[];
    try {
      payloads = await capture(this.broker, i.event, trigger, this.options.timeout ?? 5_000);
    } catch (err) {
      this.#fail(undefined, `its trigger failed: ${errorText(err)}`);
      return;
    }
    if (payloads.length === 0) {
      this.#fail(undefined, `its trigger emitted no '${i.event}'`);
      return;
    }
    for (const payload of payloads) {
      const before = this.failures.length;
      this.#mismatches(compareShape(wireValue(payload), i.payload), "payload");
      if (this.failures.length > before) return;
    }
  }

  /**
   * Delivers the payload to one listener through its wrapped handler (validation and the other
   * middlewares included), once: no durable retries to wait for, and its error comes back here.
   */
  async #deliver(listener: LocalListener, payload: JsonValue): Promise<void> {
    const ctx = new CallContext(this.broker, {
      name: this.interaction.kind === "emit" ? this.interaction.event : listener.event,
      params: payload,
      service: listener.service,
      messageID: randomUUID(),
      attempt: 1,
    });
    ctx.kind = "event";
    try {
      await listener.handler(ctx);
    } catch (err) {
      this.#fail(
        undefined,
        `the handler of '${listener.service.fullName}' fails on the payload '${this.contract.consumer}' emits: ${errorText(err)}`,
      );
    }
  }

  /** Whether `schema` (if any) accepts `value`; each issue is a failure naming its field. */
  async #accepts(schema: unknown, value: JsonValue, what: "params" | "payload"): Promise<boolean> {
    if (!isStandardSchema(schema)) return true;
    const result = await schema["~standard"].validate(value);
    if (result.issues === undefined) return true;
    for (const issue of result.issues) {
      const path = (issue.path ?? []).map((p) => (typeof p === "object" ? p.key : p));
      const field = path.length === 0 ? undefined : path.map(String).join(".");
      this.#fail(
        field,
        `the ${what} '${this.contract.consumer}' sends (${JSON.stringify(value)}) ${what === "params" ? "are" : "is"} refused: ${issue.message}`,
      );
    }
    return false;
  }

  /** Sets up the interaction's provider state; false (and a failure) when there is no setup. */
  async #state(): Promise<boolean> {
    const given = this.interaction.given;
    if (given === undefined) return true;
    const setup = this.options.states?.[given];
    if (setup === undefined) {
      this.#fail(
        undefined,
        `needs the provider state '${given}': pass states: { "${given}": ... }`,
      );
      return false;
    }
    await setup(this.broker);
    return true;
  }

  #stateHint(): string {
    const given = this.interaction.given;
    return given === undefined ? "" : ` (given '${given}')`;
  }

  #mismatches(found: readonly ShapeMismatch[], what: "result" | "payload"): void {
    const consumer = this.contract.consumer;
    for (const m of found) {
      const field = m.path === "" ? undefined : m.path;
      const subject = field === undefined ? `the ${what}` : `${what} field '${field}'`;
      const problem =
        m.problem === "missing"
          ? `${subject} is missing ('${consumer}' saw ${m.expected})`
          : `${subject} is ${m.actual} ('${consumer}' saw ${m.expected})`;
      this.#fail(field, problem);
    }
  }

  #fail(field: string | undefined, problem: string): void {
    const i = this.interaction;
    const name = i.kind === "call" ? i.action : i.event;
    const member = i.kind === "call" ? `action '${name}'` : `event '${name}' (${i.kind})`;
    const where = field === undefined ? "" : `, field '${field}'`;
    const consumer = this.contract.consumer;
    this.failures.push({
      consumer,
      kind: i.kind,
      name,
      field,
      problem,
      message: `consumer '${consumer}', ${member}${where}: ${problem}`,
    });
  }
}

function describe(interaction: Interaction): string {
  return interaction.kind === "call"
    ? `call ${interaction.action}`
    : `${interaction.kind} ${interaction.event}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

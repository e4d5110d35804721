import { FlotillaError } from "../../errors/index.js";

/** The part of `@nats-io/transport-node` the transporter uses. */
export type NatsClient = Pick<typeof import("@nats-io/transport-node"), "connect" | "headers">;

const PACKAGE = "@nats-io/transport-node";
let loading: Promise<NatsClient> | undefined;

/**
 * Loads the NATS client, an optional peer dependency, on first use. Without it, fails with
 * `MISSING_DEPENDENCY` and the line to run.
 *
 * @example
 * ```ts
 * const { connect } = await loadNatsClient();
 * ```
 */
export function loadNatsClient(): Promise<NatsClient> {
  loading ??= import("@nats-io/transport-node").then(
    (mod): NatsClient => mod,
    (cause: unknown) => {
      loading = undefined;
      throw isMissing(cause, PACKAGE) ? missingDependency(PACKAGE, cause) : cause;
    },
  );
  return loading;
}

/** Whether `err` says that `name` itself (not something it imports) is not installed. */
export function isMissing(err: unknown, name: string): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    typeof message === "string" &&
    message.includes(`'${name}'`)
  );
}

function missingDependency(name: string, cause: unknown): FlotillaError {
  return new FlotillaError(
    `The nats transporter needs the '${name}' package. Install it with:\nnpm install ${name}`,
    "MISSING_DEPENDENCY",
    500,
    { cause, data: { package: name } },
  );
}

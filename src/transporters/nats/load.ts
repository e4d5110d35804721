import { optionalDependency } from "../../util/optional.js";

/** The part of `@nats-io/transport-node` the transporter uses. */
export type NatsClient = Pick<typeof import("@nats-io/transport-node"), "connect" | "headers">;

/**
 * Loads the NATS client, an optional peer dependency, on first use. Without it, fails with
 * `MISSING_DEPENDENCY` and the line to run.
 *
 * @example
 * ```ts
 * const { connect } = await loadNatsClient();
 * ```
 */
export const loadNatsClient: () => Promise<NatsClient> = optionalDependency(
  "@nats-io/transport-node",
  "The nats transporter",
  () => import("@nats-io/transport-node"),
);

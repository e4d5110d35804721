// How a ZooKeeper request failed, told apart by the protocol's error codes (the same in every
// client), so the discoverer can leave a lost connection to the reconnect and act on the rest.

/** Why a request failed, as the discoverer tells failures apart. */
export type ZkFailure =
  | "noNode"
  | "nodeExists"
  | "badVersion"
  | "connectionLoss"
  | "sessionExpired"
  | "other";

/** The ZooKeeper protocol's error codes the discoverer tells apart (the same in every client). */
const CODES: Readonly<Record<number, ZkFailure>> = {
  [-101]: "noNode",
  [-110]: "nodeExists",
  [-103]: "badVersion",
  [-4]: "connectionLoss",
  [-112]: "sessionExpired",
};
export const CONNECTION_LOSS = -4;
export const SESSION_EXPIRED = -112;

/** A request this wrapper fails itself: the connection was down, or closed under it. */
export class ZkDisconnected extends Error {
  constructor(readonly code: number) {
    super(code === SESSION_EXPIRED ? "ZooKeeper session expired" : "ZooKeeper connection lost");
    this.name = "ZkDisconnected";
  }
}

/** Classifies an error of a request (an `Exception` of the library, or anything else). */
export function failureOf(err: unknown): ZkFailure {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === "number" ? CODES[code] : undefined) ?? "other";
}

/** Whether a request failed only because the connection or session went away. */
export function isDisconnect(err: unknown): boolean {
  const kind = failureOf(err);
  return kind === "connectionLoss" || kind === "sessionExpired";
}

// Security of the transport: who may join a cluster (a shared secret), and what proves a packet's
// sender. See docs/security.md.
//
//   secret.ts  the secret: from the options, FLOTILLA_SECRET or FLOTILLA_SECRET_FILE
//   auth.ts    the cluster key (HKDF of secret and namespace) and its HMAC
//   signed.ts  a signed message (for message brokers) and the transporter wrapper that signs
import type { ClusterAuth, Transporter } from "../transporters/transporter.js";
import { clusterAuth } from "./auth.js";
import { resolveSecret, type SecurityOptions } from "./secret.js";
import { signedTransporter } from "./signed.js";

export { clusterAuth, MAC_BYTES } from "./auth.js";
export { MIN_SECRET_BYTES, resolveSecret, type SecurityOptions } from "./secret.js";
export { open, RefusalLog, seal, signedTransporter } from "./signed.js";

/**
 * The cluster's proof of membership for a node of `namespace` (from the options or the
 * environment), and its transporter made to use it: a transporter that `authenticates` gets the
 * proof in its connect context; any other signs and checks every message. Without a secret,
 * both are returned unchanged.
 *
 * @example
 * ```ts
 * const { auth, transporter } = secureTransport(await resolveTransporter(url), options.security, "shop");
 * ```
 */
export function secureTransport(
  transporter: Transporter,
  options: SecurityOptions | undefined,
  namespace: string,
): { auth: ClusterAuth | undefined; transporter: Transporter } {
  const secret = resolveSecret(options);
  if (secret === undefined) return { auth: undefined, transporter };
  const auth = clusterAuth(secret, namespace);
  if (transporter.capabilities.authenticates === true) return { auth, transporter };
  return { auth, transporter: signedTransporter(transporter, auth) };
}

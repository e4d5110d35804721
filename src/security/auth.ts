import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import type { ClusterAuth } from "../transporters/transporter.js";

/** Bytes of an HMAC-SHA-256. */
export const MAC_BYTES = 32;

/**
 * The proof of membership of one cluster: HMAC-SHA-256 with a key derived (HKDF) from the shared
 * secret and the namespace, so one secret used by two namespaces does not let them in to each
 * other. Every part is length-prefixed, so no two lists of parts are signed alike.
 *
 * @example
 * ```ts
 * const auth = clusterAuth(secret, "shop");
 * const mac = auth.mac("dialer", "n1", "n2", nonce);
 * auth.verify(mac, "dialer", "n1", "n2", nonce); // true
 * ```
 */
export function clusterAuth(secret: Uint8Array, namespace: string): ClusterAuth {
  const key = Buffer.from(hkdfSync("sha256", secret, "flotilla-cluster-v1", namespace, 32));
  const length = Buffer.allocUnsafe(4);
  const mac = (...parts: (string | Uint8Array)[]): Buffer => {
    const hmac = createHmac("sha256", key);
    for (const part of parts) {
      const data = typeof part === "string" ? Buffer.from(part, "utf8") : part;
      length.writeUInt32BE(data.length, 0);
      hmac.update(length).update(data);
    }
    return hmac.digest();
  };
  return {
    mac,
    verify(expected, ...parts) {
      return expected.length === MAC_BYTES && timingSafeEqual(expected, mac(...parts));
    },
  };
}

import { readFileSync } from "node:fs";
import { ConfigurationError } from "../errors/index.js";

/** PEM files for a TLS client: URL parameters `tlsCa`, `tlsCert`, `tlsKey` of nats, amqp and redis. */
export interface TlsFiles {
  /** CA(s) the server's certificate must chain to. Default: the system CAs. */
  tlsCa?: string;
  /** This client's certificate, for servers that require one (mutual TLS). */
  tlsCert?: string;
  /** The key of `tlsCert`. */
  tlsKey?: string;
}

/** The URL parameters of {@link TlsFiles}. */
export const TLS_FILE_KEYS = ["tlsCa", "tlsCert", "tlsKey"] as const;

/**
 * Reads the PEM files into the `ca`/`cert`/`key` options Node's `tls.connect` (and the broker
 * clients) take. An unreadable file is an `INVALID_TRANSPORTER_URL` error naming it.
 *
 * @example
 * ```ts
 * readTlsFiles({ tlsCa: "/etc/flotilla/ca.pem" }); // { ca: <Buffer ...> }
 * ```
 */
export function readTlsFiles(files: TlsFiles): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (cause) {
      throw new ConfigurationError(
        `Cannot read the TLS ${what} '${file}'.`,
        "INVALID_TRANSPORTER_URL",
        {
          cause,
        },
      );
    }
  };
  return {
    ...(files.tlsCa === undefined ? {} : { ca: read("CA", files.tlsCa) }),
    ...(files.tlsCert === undefined ? {} : { cert: read("certificate", files.tlsCert) }),
    ...(files.tlsKey === undefined ? {} : { key: read("key", files.tlsKey) }),
  };
}

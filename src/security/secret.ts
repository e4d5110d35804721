import { readFileSync } from "node:fs";
import { ConfigurationError } from "../errors/index.js";

/** The security settings of a broker (`new ServiceBroker({ security })`). */
export interface SecurityOptions {
  /**
   * The secret every node of the cluster shares, at least 16 bytes (32 random bytes recommended:
   * `openssl rand -base64 32`). With it, `tcp://` nodes prove it to each other in their handshake
   * and nodes on a message broker sign every packet (HMAC-SHA-256); a node without it is refused.
   * Default: `$FLOTILLA_SECRET`, else the file named by `$FLOTILLA_SECRET_FILE`, else none.
   */
  secret?: string | Uint8Array;
  /** A file holding the secret (one trailing newline is ignored). Wins over the environment. */
  secretFile?: string;
}

/** Shortest secret accepted, in bytes: shorter ones can be guessed. */
export const MIN_SECRET_BYTES = 16;

/**
 * The cluster secret from the options, else `FLOTILLA_SECRET`, else the file named by
 * `FLOTILLA_SECRET_FILE`; `undefined` when none is set. A secret shorter than
 * {@link MIN_SECRET_BYTES} or an unreadable file is an `INVALID_SECRET` error whose message never
 * contains the secret.
 *
 * @example
 * ```ts
 * resolveSecret({ secretFile: "/run/secrets/flotilla" }); // the file's bytes
 * resolveSecret({}, { FLOTILLA_SECRET: "..." }); // from the environment
 * ```
 */
export function resolveSecret(
  options: SecurityOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Uint8Array | undefined {
  const file =
    options.secretFile ?? (options.secret === undefined ? env.FLOTILLA_SECRET_FILE : undefined);
  let secret: Uint8Array | undefined;
  if (options.secret !== undefined) secret = bytes(options.secret);
  else if (file !== undefined && file !== "") secret = readSecretFile(file);
  else if (env.FLOTILLA_SECRET !== undefined && env.FLOTILLA_SECRET !== "")
    secret = bytes(env.FLOTILLA_SECRET);
  if (secret !== undefined && secret.length < MIN_SECRET_BYTES) {
    throw new ConfigurationError(
      `The cluster secret is ${secret.length} bytes; it needs at least ${MIN_SECRET_BYTES} (32 random bytes: openssl rand -base64 32).`,
      "INVALID_SECRET",
    );
  }
  return secret;
}

function bytes(secret: string | Uint8Array): Uint8Array {
  return typeof secret === "string" ? Buffer.from(secret, "utf8") : secret;
}

function readSecretFile(file: string): Uint8Array {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (cause) {
    throw new ConfigurationError(
      `Cannot read the cluster secret file '${file}'.`,
      "INVALID_SECRET",
      {
        cause,
      },
    );
  }
  // Editors and `echo` add a newline that is not part of the secret.
  let end = text.length;
  if (text[end - 1] === 0x0a) end -= 1;
  if (text[end - 1] === 0x0d) end -= 1;
  return text.subarray(0, end);
}

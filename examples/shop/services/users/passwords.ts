// Password hashing: scrypt from node:crypto with a random salt per password, compared in constant
// time. The parameters are stored with each hash, so raising them later still verifies old ones.
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt's cost (N), block size (r) and parallelism (p): 16 MiB and ~50 ms per hash. */
const PARAMS = { N: 16384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFC"), salt, KEY_BYTES, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/**
 * Hashes a password for storage: `scrypt:N:r:p:<salt hex>:<key hex>`.
 *
 * @example
 * ```ts
 * const stored = await hashPassword("demo-pass-123");
 * await verifyPassword("demo-pass-123", stored); // true
 * ```
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, PARAMS);
  return ["scrypt", PARAMS.N, PARAMS.r, PARAMS.p, salt.toString("hex"), key.toString("hex")].join(
    ":",
  );
}

/**
 * Whether `password` matches a hash {@link hashPassword} made; the keys are compared with
 * `timingSafeEqual`. A malformed hash never matches.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, saltHex, keyHex] = stored.split(":");
  if (scheme !== "scrypt" || saltHex === undefined || keyHex === undefined) return false;
  const expected = Buffer.from(keyHex, "hex");
  const options = { N: Number(n), r: Number(r), p: Number(p) };
  if (expected.length !== KEY_BYTES || !Object.values(options).every(Number.isInteger)) {
    return false;
  }
  const actual = await derive(password, Buffer.from(saltHex, "hex"), options);
  return timingSafeEqual(actual, expected);
}

let decoy: Promise<string> | undefined;

/**
 * A hash of no one's password: login verifies against it when the email is unknown, so an
 * unknown email takes as long as a wrong password and the answer's timing reveals nothing.
 */
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString("hex"));
  return decoy;
}

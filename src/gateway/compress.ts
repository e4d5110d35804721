import { promisify } from "node:util";
import { brotliCompress, constants, deflate, gzip } from "node:zlib";

/** Encodings the gateway can answer in, in its order of preference. */
export type Encoding = "br" | "gzip" | "deflate";

/** Compression settings (`GatewayOptions.compress`). */
export interface CompressSettings {
  /** Smallest body, in bytes, worth compressing. Default 1024. */
  threshold?: number;
  /** Encodings offered, in order of preference. Default `["br", "gzip", "deflate"]`. */
  encodings?: Encoding[];
}

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
const deflateAsync = promisify(deflate);
// Quality 4 keeps brotli about as fast as gzip; the default (11) costs far too much per request.
const BROTLI_OPTIONS = { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } };

/**
 * Compresses answers in the handlers that produce them, instead of in a Fastify `onSend` hook:
 * small answers, the common case, then cost one length check and no hook at all. Compression
 * runs on the libuv thread pool, off the event loop.
 *
 * @example
 * ```ts
 * const compressor = new Compressor({ threshold: 1024 });
 * const encoding = compressor.pick(body, request.headers["accept-encoding"]);
 * if (encoding) reply.header("content-encoding", encoding).send(await compressor.encode(body, encoding));
 * ```
 */
export class Compressor {
  readonly threshold: number;
  readonly #encodings: readonly Encoding[];

  constructor(settings: CompressSettings = {}) {
    this.threshold = settings.threshold ?? 1024;
    this.#encodings = settings.encodings ?? ["br", "gzip", "deflate"];
  }

  /** The encoding to answer `body` in, or `undefined` to send it as it is. */
  pick(body: string, acceptEncoding: string | undefined): Encoding | undefined {
    if (body.length < this.threshold || acceptEncoding === undefined) return undefined;
    return negotiate(acceptEncoding, this.#encodings);
  }

  /** Compresses `body` with `encoding`. */
  encode(body: string, encoding: Encoding): Promise<Buffer> {
    if (encoding === "br") return brotli(body, BROTLI_OPTIONS);
    return encoding === "gzip" ? gzipAsync(body) : deflateAsync(body);
  }
}

/**
 * The first of `offered` that an `Accept-Encoding` header accepts (q > 0, directly or by `*`).
 *
 * @example
 * ```ts
 * negotiate("gzip, br;q=0", ["br", "gzip"]); // "gzip"
 * ```
 */
export function negotiate(header: string, offered: readonly Encoding[]): Encoding | undefined {
  const accepted = new Map<string, number>();
  for (const part of header.split(",")) {
    const [name = "", ...params] = part.trim().toLowerCase().split(";");
    if (name === "") continue;
    let q = 1;
    for (const param of params) {
      const [key, value] = param.trim().split("=");
      if (key === "q" && value !== undefined) q = Number(value) || 0;
    }
    accepted.set(name, q);
  }
  const any = accepted.get("*");
  for (const encoding of offered) {
    const q = accepted.get(encoding) ?? any;
    if (q !== undefined && q > 0) return encoding;
  }
  return undefined;
}

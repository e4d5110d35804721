// The tcp transporter: direct TCP connections between nodes, no server to run.
//
//   transporter.ts  the Transporter: listen, start discovery, publish/subscribe
//   mesh.ts         every connection; sessions, routing of frames, onPeerUp/onPeerDown
//   handshake.ts    which connection becomes a pair's session (crossed dials, restarts)
//   connection.ts   one socket: framing in, batched writes out, backpressure
//   frames.ts       the wire format
//   rendezvous.ts   discovery through a directory on this machine
//   udp.ts          discovery through UDP announcements on the LAN
//   seeds.ts        static addresses from the URL, redialed with backoff
//   options.ts      options, URL parsing, defaults
import type { Transporter } from "../transporter.js";
import { parseTcpUrl } from "./options.js";
import { TcpTransporter } from "./transporter.js";

export { type Frame, FrameDecoder, FrameError, type Hello } from "./frames.js";
export {
  type Address,
  parseAddress,
  parseTcpUrl,
  type ResolvedTcpOptions,
  resolveTcpOptions,
  type TcpOptions,
} from "./options.js";
export { entryFileName, type RendezvousEntry } from "./rendezvous.js";
export { TcpTransporter } from "./transporter.js";

/**
 * The `tcp://` factory used by `resolveTransporter`.
 *
 * @example
 * ```ts
 * const t = tcpTransporterFromUrl(new URL("tcp://?port=4000&udp=false"));
 * ```
 */
export function tcpTransporterFromUrl(url: URL): Transporter {
  return new TcpTransporter(parseTcpUrl(url));
}

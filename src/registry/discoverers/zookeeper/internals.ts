import type { Client } from "node-zookeeper-client";

// Two things `node-zookeeper-client` (1.1) has no API for, done on its connection manager:
//
// - drop the connection without ending the session, as a crashed process does (the discoverer's
//   `halt`, for fault tests): the only way out of its reconnect loop that sends no CLOSE_SESSION
//   is its "closing" state, in which a closed socket is not dialled again;
// - drop a socket that went silent, so the client dials again: the library sends pings but never
//   checks that answers come, so a half-open link (a peer gone without a FIN) would otherwise
//   look connected until TCP gives up, many minutes later.
//
// - find a dial stuck in its handshake: the library times a dial out only until the TCP
//   connection is made, and a server that accepts the connection but never answers the
//   handshake (one still starting, seen after a restart) keeps the client waiting forever.
//
// All check the shape they rely on; callers fall back to the public API when it is not there.

interface ConnectionManager {
  state: number;
  socket?: { destroy(): void };
}

/** The library's "closing" and "connecting" states (`ConnectionManager.STATES`). */
const CLOSING = -1;
const CONNECTING = 1;

function manager(client: Client): ConnectionManager | undefined {
  const found = (client as unknown as { connectionManager?: unknown }).connectionManager;
  if (typeof found !== "object" || found === null) return undefined;
  const { state, socket } = found as { state?: unknown; socket?: unknown };
  if (typeof state !== "number") return undefined;
  if (socket !== undefined && typeof (socket as { destroy?: unknown }).destroy !== "function") {
    return undefined;
  }
  return found as ConnectionManager;
}

/** Closes the client's socket for good without ending its session. False when it cannot. */
export function abandonSession(client: Client): boolean {
  const cm = manager(client);
  if (cm === undefined) return false;
  cm.state = CLOSING;
  cm.socket?.destroy();
  return true;
}

/** Closes the client's socket; the client dials again with the same session. */
export function dropSocket(client: Client): boolean {
  const cm = manager(client);
  if (cm?.socket === undefined) return false;
  cm.socket.destroy();
  return true;
}

/** The socket of a dial under way (connecting, or waiting for the handshake's answer). */
export function dialingSocket(client: Client): object | undefined {
  const cm = manager(client);
  return cm?.state === CONNECTING ? cm.socket : undefined;
}

// The raw floor on tcp: node:net between the two processes, no broker. Per call: one frame each
// way on one long-lived connection, `{ id, method, params }` out and `{ id, result }` back, the
// client matching replies by id. JSON travels as newline-delimited lines (JSON.stringify never
// writes a raw newline); MessagePack as frames with a 4-byte big-endian length in front.
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import type { Codec, Endpoint } from "../contract.js";
import { PendingCalls, type RawReply, rawReply, type WireCodec, wireCodec } from "./shared.js";

interface TcpRequest {
  id: number;
  method: string;
  params: unknown;
}

/** Calls `onFrame` with every whole frame of a byte stream; linear in the bytes received. */
function frameReader(codec: Codec, onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let parts: Buffer[] = [];
  if (codec === "json") {
    return (chunk) => {
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, nl);
        onFrame(parts.length === 0 ? piece : Buffer.concat([...parts, piece]));
        parts = [];
        start = nl + 1;
      }
      if (start < chunk.length) parts.push(chunk.subarray(start));
    };
  }
  let have = 0;
  let need = -1; // the body length of the frame being read, once its header is in
  const joined = (): Buffer => {
    if (parts.length > 1) parts = [Buffer.concat(parts)];
    return parts[0] ?? Buffer.alloc(0);
  };
  const keep = (rest: Buffer) => {
    parts = rest.length === 0 ? [] : [rest];
    have = rest.length;
  };
  return (chunk) => {
    parts.push(chunk);
    have += chunk.length;
    for (;;) {
      if (need < 0) {
        if (have < 4) return;
        const buf = joined();
        need = buf.readUInt32BE(0);
        keep(buf.subarray(4));
      }
      if (have < need) return;
      const buf = joined();
      const frame = buf.subarray(0, need);
      keep(buf.subarray(need));
      need = -1;
      onFrame(frame);
    }
  };
}

/** Writes one value as one frame (the length header and body in one writev, no copy). */
function frameWriter(codec: Codec, wire: WireCodec): (socket: Socket, value: unknown) => void {
  if (codec === "json") return (socket, value) => socket.write(`${JSON.stringify(value)}\n`);
  return (socket, value) => {
    const body = wire.encode(value);
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(body.length);
    socket.cork();
    socket.write(header);
    socket.write(body);
    socket.uncork();
  };
}

/** Listens on 127.0.0.1:`at.port` and answers every frame on the connection it came from. */
export async function serveTcp(at: Endpoint): Promise<{ close(): Promise<void> }> {
  const wire = await wireCodec(at.codec);
  const write = frameWriter(at.codec, wire);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.on(
      "data",
      frameReader(at.codec, (frame) => {
        const req = wire.decode(frame) as TcpRequest;
        write(socket, { id: req.id, ...rawReply(req.method, req.params) });
      }),
    );
  });
  server.listen(at.port, "127.0.0.1");
  await once(server, "listening");
  return {
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** One connection to the server; `call` sends a frame and resolves with the reply of its id. */
export async function tcpClient(at: Endpoint) {
  const wire = await wireCodec(at.codec);
  const write = frameWriter(at.codec, wire);
  const pending = new PendingCalls<number>();
  const socket = connect(at.port, "127.0.0.1");
  socket.setNoDelay(true);
  await once(socket, "connect");
  socket.on(
    "data",
    frameReader(at.codec, (frame) => {
      const reply = wire.decode(frame) as RawReply & { id: number };
      pending.settle(reply.id, reply);
    }),
  );
  socket.on("close", () => pending.failAll("connection closed"));
  let nextId = 0;
  return {
    call: (method: string, params: unknown) => {
      const id = nextId++;
      write(socket, { id, method, params } satisfies TcpRequest);
      return pending.wait(id);
    },
    close: async () => {
      const closed = once(socket, "close");
      socket.end();
      await closed;
    },
  };
}

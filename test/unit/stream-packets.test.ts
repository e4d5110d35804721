import { describe, expect, it } from "vitest";
import { jsonSerializer } from "../../src/serializers/json.js";
import { decodePacket, encodePacket } from "../../src/transit/codec.js";
import { PacketType, STREAM_END } from "../../src/transit/packets.js";
import { STREAM_WINDOW, StreamReceiver } from "../../src/transit/streams/index.js";

// The STREAM packet is binary (not serialized) and the receiving end checks what a peer sends:
// a hostile or broken peer gets its packet dropped or its stream broken, never a crash.

const json = jsonSerializer();

describe("STREAM packets", () => {
  it("carry their bytes as they are, whatever the serializer", () => {
    const data = Buffer.from([0, 255, 10, 13, 34]);
    const bytes = encodePacket(json, PacketType.STREAM, {
      sender: "n-1",
      id: "req-9",
      seq: 7,
      flags: STREAM_END,
      data,
    });
    // Header, two short strings, seq, flags, then the five bytes unchanged.
    expect(bytes.length).toBe(3 + 2 + 3 + 2 + 5 + 5 + data.length);
    const packet = decodePacket(json, bytes);
    expect(packet).toEqual({
      type: PacketType.STREAM,
      body: { sender: "n-1", id: "req-9", seq: 7, flags: STREAM_END, data },
    });
  });

  it("refuses a body cut short", () => {
    const bytes = encodePacket(json, PacketType.STREAM, {
      sender: "n-1",
      id: "req-9",
      seq: 0,
      flags: 0,
      data: new Uint8Array(0),
    });
    for (const cut of [4, 7, bytes.length - 3]) {
      expect(() => decodePacket(json, bytes.subarray(0, cut))).toThrow(
        expect.objectContaining({
          code: "BAD_PACKET",
          data: expect.objectContaining({ reason: "body" }),
        }),
      );
    }
  });

  it("refuses a STREAM_ACK with a credit that is not a small whole number", () => {
    for (const credit of [-1, 1.5, 2_000_000]) {
      const bytes = encodePacket(json, PacketType.STREAM_ACK, {
        sender: "n-1",
        id: "req-9",
        credit,
      });
      expect(() => decodePacket(json, bytes)).toThrow(
        expect.objectContaining({ code: "BAD_PACKET" }),
      );
    }
  });
});

describe("the receiving end of a stream", () => {
  const receiver = () => {
    const grants: [number, boolean][] = [];
    const r = new StreamReceiver(
      (credit, cancel) => grants.push([credit, cancel]),
      () => {},
    );
    return { r, grants };
  };
  const piece = new Uint8Array(10);

  it("breaks on a piece out of order", async () => {
    const { r } = receiver();
    r.piece(0, piece, false, undefined);
    r.piece(2, piece, false, undefined);
    await expect(r.toArray()).rejects.toMatchObject({ code: "STREAM_BROKEN" });
  });

  it("breaks on pieces past the credit it gave, and grants credit as its reader consumes", async () => {
    const { r, grants } = receiver();
    // Nobody reads: the buffer fills, no credit goes back, and one piece more than the window
    // breaks the stream.
    const big = new Uint8Array(64 * 1024);
    for (let seq = 0; seq < STREAM_WINDOW; seq++) r.piece(seq, big, false, undefined);
    expect(grants.filter(([, cancel]) => !cancel)).toEqual([]);
    r.piece(STREAM_WINDOW, big, false, undefined);
    await expect(r.toArray()).rejects.toMatchObject({ code: "STREAM_BROKEN" });
  });

  it("tells its sender to stop when its reader gives up", () => {
    const { r, grants } = receiver();
    r.piece(0, piece, false, undefined);
    r.destroy();
    expect(grants.at(-1)).toEqual([0, true]);
  });
});

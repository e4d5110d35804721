import { describe, expect, it } from "vitest";
import {
  ACK_FRAME,
  BYE_FRAME,
  encodeHello,
  encodeMsgHeader,
  encodePing,
  encodePong,
  encodeSub,
  type Frame,
  FrameDecoder,
  FrameError,
  type Hello,
  MAX_TOPIC_BYTES,
} from "../../src/transporters/tcp/frames.js";

const hello: Hello = {
  v: 1,
  nodeID: "n1",
  namespace: "ns",
  instance: "i-1",
  host: "127.0.0.1",
  port: 4000,
  subs: ["a", "b"],
};
const msg = (topic: string, payload: Uint8Array) =>
  Buffer.concat([encodeMsgHeader(topic, payload.length), payload]);

/** One of every frame type, as bytes, with what decoding must give back. */
const all: [Buffer, Frame][] = [
  [encodeHello(hello), { type: "hello", hello }],
  [ACK_FRAME, { type: "ack" }],
  [encodeSub("orders.placed"), { type: "sub", topic: "orders.placed" }],
  [msg("t", Buffer.from("payload")), { type: "msg", topic: "t", data: Buffer.from("payload") }],
  [msg("ünïcode", Buffer.alloc(0)), { type: "msg", topic: "ünïcode", data: Buffer.alloc(0) }],
  [encodePing(7), { type: "ping", id: 7 }],
  [encodePong(0xffffffff), { type: "pong", id: 0xffffffff }],
  [BYE_FRAME, { type: "bye" }],
];
const stream = Buffer.concat(all.map(([bytes]) => bytes));
const expected = all.map(([, frame]) => frame);

describe("tcp frames", () => {
  it("decodes many frames from one chunk", () => {
    expect(new FrameDecoder(1024).push(stream)).toEqual(expected);
  });

  it("decodes frames split anywhere, down to one byte per read", () => {
    for (const size of [1, 2, 3, 5, 7, 64]) {
      const decoder = new FrameDecoder(1024);
      const frames: Frame[] = [];
      for (let i = 0; i < stream.length; i += size) {
        frames.push(...decoder.push(stream.subarray(i, i + size)));
      }
      expect(frames).toEqual(expected);
    }
  });

  it("refuses a frame over the cap as soon as its length arrives", () => {
    const decoder = new FrameDecoder(100);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(101, 0);
    expect(() => decoder.push(head)).toThrow(FrameError);
    expect(() => new FrameDecoder(100).push(Buffer.alloc(4))).toThrow(/outside 1\.\.100/);
  });

  it.each([
    ["an unknown type", Buffer.from([0, 0, 0, 1, 42])],
    ["an ACK with a body", Buffer.from([0, 0, 0, 2, 2, 0])],
    ["a PING without its id", Buffer.from([0, 0, 0, 2, 5, 0])],
    ["a MSG shorter than its topic", Buffer.from([0, 0, 0, 4, 4, 0, 9, 65])],
    ["a HELLO that is not JSON", Buffer.concat([Buffer.from([0, 0, 0, 3, 1]), Buffer.from("{{")])],
    ["a HELLO of another version", encodeHello({ ...hello, v: 2 } as unknown as Hello)],
    ["a HELLO without a nodeID", encodeHello({ ...hello, nodeID: "" })],
    ["a HELLO with a bad port", encodeHello({ ...hello, port: 70000 })],
  ])("refuses %s", (_name, bytes) => {
    expect(() => new FrameDecoder(1024).push(bytes)).toThrow(FrameError);
  });

  it("refuses a topic longer than a u16 length can say", () => {
    expect(() => encodeMsgHeader("x".repeat(MAX_TOPIC_BYTES + 1), 0)).toThrow(RangeError);
    expect(encodeMsgHeader("x".repeat(MAX_TOPIC_BYTES), 0).length).toBe(5 + 2 + MAX_TOPIC_BYTES);
  });
});

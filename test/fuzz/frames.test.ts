import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeMsgHeader,
  encodePing,
  encodePong,
  encodeSub,
  type Frame,
  FrameDecoder,
  FrameError,
} from "../../src/transporters/tcp/frames.js";

// The tcp frame parser against bytes a stranger chooses: every input ends in frames or in a
// FrameError (the connection is dropped), never in another exception, and what the decoder
// holds stays within one frame's cap.

const RUNS = 10_000;
const MAX_FRAME = 256;

/** Bytes the decoder holds right now (a private field: the bound is the property under test). */
const held = (decoder: FrameDecoder): number => Reflect.get(decoder, "buffered") as number;

/** Feeds chunks; returns the frames, or the FrameError that ended the stream. */
function feed(decoder: FrameDecoder, chunks: Uint8Array[]): Frame[] | FrameError {
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    try {
      frames.push(...decoder.push(Buffer.from(chunk)));
    } catch (err) {
      if (err instanceof FrameError) return err;
      throw err;
    }
    expect(held(decoder)).toBeLessThanOrEqual(MAX_FRAME + 4 + chunk.length);
  }
  return frames;
}

/** A stream that starts like a frame more often than random bytes would. */
const framish = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .tuple(
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.integer({ min: 0, max: 9 }),
      fc.uint8Array({ maxLength: 40 }),
    )
    .map(([length, type, body]) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(length, 0);
      head[4] = type;
      return new Uint8Array([...head, ...body]);
    }),
);

/** Cuts `bytes` at the given points. */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of at) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe("fuzz: tcp frame parser", () => {
  it(`survives ${RUNS} garbage streams in any chunking: frames or FrameError, memory within the cap`, () => {
    fc.assert(
      fc.property(fc.array(framish, { maxLength: 6 }), (chunks) => {
        const result = feed(new FrameDecoder(MAX_FRAME), chunks);
        expect(Array.isArray(result) || result instanceof FrameError).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it(`refuses ${RUNS} length prefixes over the cap from their 4 bytes alone`, () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_FRAME + 1, max: 2 ** 32 - 1 }), (length) => {
        const head = Buffer.alloc(4);
        head.writeUInt32BE(length, 0);
        expect(feed(new FrameDecoder(MAX_FRAME), [head])).toBeInstanceOf(FrameError);
      }),
      { numRuns: RUNS },
    );
  });

  const topic = fc.string({ minLength: 1, maxLength: 20 });
  const validFrame = fc.oneof(
    topic.map((t) => ({ bytes: encodeSub(t), frame: { type: "sub", topic: t } })),
    fc.nat().map((id) => ({ bytes: encodePing(id), frame: { type: "ping", id } })),
    fc.nat().map((id) => ({ bytes: encodePong(id), frame: { type: "pong", id } })),
    fc.tuple(topic, fc.uint8Array({ maxLength: 64 })).map(([t, data]) => ({
      bytes: Buffer.concat([encodeMsgHeader(t, data.length), data]),
      frame: { type: "msg", topic: t, data: Buffer.from(data) },
    })),
  );

  it(`reads ${RUNS} streams of valid frames back whatever the chunking`, () => {
    fc.assert(
      fc.property(
        fc.array(validFrame, { maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (frames, points) => {
          const stream = Buffer.concat(frames.map((f) => f.bytes));
          const result = feed(new FrameDecoder(MAX_FRAME), cut(stream, points));
          expect(result).toEqual(frames.map((f) => f.frame));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

import { pino } from "pino";
import type { Logger } from "../../src/observability/logger.js";
import type { TransporterContext } from "../../src/transporters/transporter.js";
import { until } from "../harness/index.js";

/** A logger that keeps nothing. */
export const silent: Logger = pino({ enabled: false });

/** A logger whose lines (parsed) land in `lines`, to check what a transporter reports. */
export function recordingLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  );
  return { logger, lines };
}

/** One message as a node received it. */
export interface Received {
  topic: string;
  data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => decoder.decode(data);

/**
 * Records what a transporter hands to its node (messages, peers up and down) and lets a test
 * wait for a condition on them: checked on every event, so there is no polling and no sleeping.
 */
export class Probe {
  readonly received: Received[] = [];
  readonly up: string[] = [];
  readonly down: string[] = [];
  /** Everything in arrival order: `msg:<topic>:<text>`, `up:<nodeID>`, `down:<nodeID>`. */
  readonly log: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly nodeID: string,
    readonly namespace = "test",
    readonly logger: Logger = silent,
    /** What transit would hand over: the broker's default, 16 MiB. */
    readonly maxPacketSize = 16 * 1024 * 1024,
  ) {}

  context(): TransporterContext {
    return {
      nodeID: this.nodeID,
      namespace: this.namespace,
      logger: this.logger,
      maxPacketSize: this.maxPacketSize,
      onMessage: (topic, data) => {
        this.received.push({ topic, data });
        this.record(`msg:${topic}:${text(data).slice(0, 40)}`);
      },
      onPeerUp: (nodeID) => {
        this.up.push(nodeID);
        this.record(`up:${nodeID}`);
      },
      onPeerDown: (nodeID) => {
        this.down.push(nodeID);
        this.record(`down:${nodeID}`);
      },
    };
  }

  /** The payloads received on `topic`, as text. */
  texts(topic: string): string[] {
    return this.received.filter((r) => r.topic === topic).map((r) => text(r.data));
  }

  /** Resolves once `condition` holds; fails the test with `what` after `timeout` ms. */
  until(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.nodeID}: timed out waiting for ${what}`));
      }, timeout);
      this.waiters.add(check);
    });
  }

  private record(entry: string): void {
    this.log.push(entry);
    for (const check of [...this.waiters]) check();
  }
}

/**
 * Polls `condition` until it holds, for state that raises no event (files on disk, peer lists).
 * Fails with `what` after `timeout` ms.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeout = 5000,
): Promise<void> {
  await until(condition, { timeout, message: what });
}

import type { DeadLetter, DeadLetterInfo } from "../transporters/durable.js";

/** Dead letters as a broker exposes them, wherever they are kept. */
export interface DeadLetters {
  /** Whether they survive a crash (kept by the message broker) or live in this process. */
  readonly persistent: boolean;
  list(): Promise<DeadLetter[]>;
  /** Delivers the message to its group again, with the same ID. False when there is no such ID. */
  replay(id: string): Promise<boolean>;
}

interface Entry {
  letter: DeadLetter;
  redeliver: () => void;
}

/**
 * Dead letters of durable handlers on a transporter that cannot persist: kept in this process
 * (bounded, oldest dropped first) and replayed to the local handler that gave up on them.
 */
export class MemoryDeadLetters implements DeadLetters {
  readonly persistent = false;
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly max = 10_000) {}

  add(
    id: string,
    stream: string,
    payload: unknown,
    info: DeadLetterInfo,
    redeliver: () => void,
  ): void {
    if (this.#entries.size >= this.max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    const data = Buffer.from(JSON.stringify(payload ?? null));
    this.#entries.set(id, { letter: { id, stream, data, info }, redeliver });
  }

  async list(): Promise<DeadLetter[]> {
    return [...this.#entries.values()].map((e) => e.letter);
  }

  async replay(id: string): Promise<boolean> {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#entries.delete(id);
    entry.redeliver();
    return true;
  }
}

import type { DeadLetter, DurableStreams } from "../../transporters/durable.js";

/** Dead letters as a broker exposes them, wherever they are kept. */
export interface DeadLetters {
  /** Whether they survive a crash (kept by the message broker) or live in this process. */
  readonly persistent: boolean;
  /** Oldest first; `data` is the encoded event packet, as it was published. */
  list(): Promise<DeadLetter[]>;
  /** Delivers the message to its group again, with the same ID. False when there is no such ID. */
  replay(id: string): Promise<boolean>;
}

/** The dead letters of some durable streams. */
export function deadLettersOf(streams: DurableStreams): DeadLetters {
  return {
    persistent: streams.persistent ?? true,
    list: () => streams.listDeadLetters(),
    replay: (id) => streams.replayDeadLetter(id),
  };
}

/** The dead letters of a node that has no durable streams (not started). */
export const NO_DEAD_LETTERS: DeadLetters = {
  persistent: false,
  list: async () => [],
  replay: async () => false,
};

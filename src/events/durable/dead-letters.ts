import type { DeadLetter, DurableStreams } from "../../transporters/durable.js";

/** Dead letters as a broker exposes them, wherever they are kept. */
export interface DeadLetters {
  /** Whether they survive a crash (kept by the message broker) or live in this process. */
  readonly persistent: boolean;
  /**
   * Dead letters waiting, as this node counts them without listing them (a listing can be slow:
   * on RabbitMQ it takes every dead letter and puts it back): the number the last `list()`
   * through this node found (0 before one), plus those its durable handlers gave up on since,
   * minus those replayed through it. Exact when dead letters live in this process (tcp://, no
   * transporter); on a message broker shared by several nodes, an estimate that each `list()`
   * sets right again. The metrics report it as the dead-letter backlog.
   */
  readonly backlog: number;
  /** Oldest first; `data` is the encoded event packet, as it was published. */
  list(): Promise<DeadLetter[]>;
  /** Delivers the message to its group again, with the same ID. False when there is no such ID. */
  replay(id: string): Promise<boolean>;
}

/** Where a node keeps its count of waiting dead letters (see {@link DeadLetters.backlog}). */
export interface DeadLetterTally {
  count: number;
}

/** The dead letters of some durable streams, counted in `tally`. */
export function deadLettersOf(
  streams: DurableStreams,
  tally: DeadLetterTally = { count: 0 },
): DeadLetters {
  return {
    persistent: streams.persistent ?? true,
    get backlog() {
      return tally.count;
    },
    list: async () => {
      const letters = await streams.listDeadLetters();
      tally.count = letters.length;
      return letters;
    },
    replay: async (id) => {
      const replayed = await streams.replayDeadLetter(id);
      if (replayed && tally.count > 0) tally.count--;
      return replayed;
    },
  };
}

/** The dead letters of a node that has no durable streams (not started). */
export const NO_DEAD_LETTERS: DeadLetters = {
  persistent: false,
  backlog: 0,
  list: async () => [],
  replay: async () => false,
};

import { PacketTooLargeError } from "../../../errors/index.js";
import type { Logger } from "../../../observability/logger.js";
import type { ZkConnection } from "./client.js";
import { failureOf } from "./failures.js";

/**
 * ZooKeeper refuses a request over `jute.maxbuffer` (1 MiB less one byte by default) by closing
 * the connection, which the client would retry forever. Entries are checked against this bound,
 * with room for the request's own framing.
 */
export const MAX_ENTRY_BYTES = 1_000_000;

/**
 * This node's ephemeral znode: written when a session starts, rewritten when the entry changes.
 * Writes go one at a time, and a burst of changes costs one write of the newest entry.
 */
export class OwnEntry {
  #writing: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly path: string,
    private readonly entry: () => string,
    private readonly logger: Logger,
  ) {}

  /**
   * Writes the entry under `connection`'s session. A znode left by an earlier session of this
   * node ID (a restart within the old session's timeout, or this run's own session given up while
   * ZooKeeper was out of reach) is replaced in one transaction, so the others see the new entry
   * at once, and never a moment without one.
   */
  async register(connection: ZkConnection): Promise<void> {
    await connection.mkdirp(this.path.slice(0, this.path.lastIndexOf("/")));
    await this.#claim(connection, true);
  }

  /**
   * Puts the znode back after someone deleted it while this node's session lives on. A znode
   * of another session that took its place is left alone (two nodes with one ID would otherwise
   * take it from each other forever), with a warning.
   */
  async restore(connection: ZkConnection): Promise<void> {
    await this.#claim(connection, false);
  }

  /** Writes the newest entry; with others waiting, once for all of them. */
  write(connection: ZkConnection): Promise<void> {
    if (this.#writing !== undefined) {
      this.#again = true;
      return this.#writing;
    }
    const run = async () => {
      try {
        do {
          this.#again = false;
          try {
            await connection.setData(this.path, this.#data());
          } catch (err) {
            if (failureOf(err) !== "noNode") throw err;
            await this.#claim(connection, false);
          }
        } while (this.#again);
      } finally {
        this.#writing = undefined;
      }
    };
    this.#writing = run();
    return this.#writing;
  }

  /** Deletes the znode if this session owns it. */
  async remove(connection: ZkConnection): Promise<void> {
    try {
      const { stat } = await connection.getData(this.path);
      if (stat.owner === connection.sessionId) await connection.remove(this.path, stat.version);
    } catch (err) {
      if (failureOf(err) !== "noNode") throw err;
    }
  }

  /** Creates the znode, or makes sure the one there is this session's with the newest entry. */
  async #claim(connection: ZkConnection, replace: boolean): Promise<void> {
    // A few rounds, for the races with a deletion by the server (an expiring session) or others.
    for (let round = 0; ; round++) {
      try {
        await connection.create(this.path, this.#data(), "ephemeral");
        return;
      } catch (err) {
        if (failureOf(err) !== "nodeExists" || round >= 5) throw err;
      }
      try {
        const { stat } = await connection.getData(this.path);
        if (stat.owner === connection.sessionId) {
          await connection.setData(this.path, this.#data(), stat.version);
          return;
        }
        if (!replace) {
          this.logger.warn(
            { path: this.path },
            "Another ZooKeeper session holds this node's entry: are two nodes running with one node ID?",
          );
          return;
        }
        this.logger.info({ path: this.path }, "Replacing the entry of an earlier session");
        await connection.replace(this.path, stat.version, this.#data());
        return;
      } catch (err) {
        const kind = failureOf(err);
        if ((kind !== "noNode" && kind !== "badVersion") || round >= 5) throw err;
      }
    }
  }

  /** The entry's bytes; refused when ZooKeeper would refuse them (by dropping the connection). */
  #data(): Buffer {
    const data = Buffer.from(this.entry(), "utf8");
    if (data.length > MAX_ENTRY_BYTES) {
      throw new PacketTooLargeError(data.length, MAX_ENTRY_BYTES, {
        data: { size: data.length, limit: MAX_ENTRY_BYTES, registry: "zookeeper" },
      });
    }
    return data;
  }
}

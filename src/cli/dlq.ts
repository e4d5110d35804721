import type { ServiceBroker } from "../broker/broker.js";
import { DeadLetterNotFoundError } from "../errors/index.js";
import { resolveSerializer, type Serializer } from "../serializers/index.js";
import { decodePacket } from "../transit/codec.js";
import { type Parsed, UsageError } from "./args.js";
import { clientOptions } from "./call.js";
import { withClient } from "./client.js";
import { configure } from "./config/load.js";
import type { Output } from "./output.js";

/**
 * `flotilla dlq list | show <id> | replay <id>`: the dead letters of durable events, kept by the
 * message broker. (On memory:// and tcp:// they live inside each node and cannot be reached from
 * another process.) An unknown ID fails with `DEAD_LETTER_NOT_FOUND`.
 */
export async function dlq(given: Parsed, out: Output): Promise<number> {
  const { parsed, broker: brokerOptions } = await configure(given, "dlq");
  const [command, id, extra] = parsed.positionals;
  if (command === undefined) throw new UsageError("missing: list, show <id> or replay <id>", "dlq");
  if (command !== "list" && command !== "show" && command !== "replay")
    throw new UsageError(`unknown dlq command '${command}' (list, show <id>, replay <id>)`, "dlq");
  if (command !== "list" && id === undefined)
    throw new UsageError(`dlq ${command} needs the dead letter's ID`, "dlq");
  const surplus = command === "list" ? id : extra;
  if (surplus !== undefined) throw new UsageError(`unexpected argument '${surplus}'`, "dlq");
  return withClient(clientOptions(parsed, brokerOptions), async (broker) => {
    if (!broker.deadLetters.persistent) {
      throw new UsageError(
        "dead letters are kept by the message broker only on amqp://, nats:// and redis://",
        "dlq",
      );
    }
    try {
      return await act(broker, command, id ?? "", out);
    } catch (err) {
      return out.callError(err);
    }
  });
}

async function act(
  broker: ServiceBroker,
  command: "list" | "show" | "replay",
  id: string,
  out: Output,
): Promise<number> {
  const store = broker.deadLetters;
  if (command === "list") {
    const letters = (await store.list()).map((l) => ({ id: l.id, event: l.stream, ...l.info }));
    out.rows(letters, {
      ID: (l) => l.id,
      EVENT: (l) => l.event,
      GROUP: (l) => l.group,
      ATTEMPTS: (l) => l.attempts,
      FAILED: (l) => new Date(l.failedAt).toISOString(),
      ERROR: (l) => `${l.code}: ${l.message}`,
    });
    return 0;
  }
  if (command === "show") {
    const letter = (await store.list()).find((l) => l.id === id);
    if (letter === undefined) throw new DeadLetterNotFoundError(id);
    const serializer = resolveSerializer(broker.options.serializer);
    out.value({
      id: letter.id,
      event: letter.stream,
      ...letter.info,
      packet: decode(serializer, letter.data),
    });
    return 0;
  }
  if (!(await store.replay(id))) throw new DeadLetterNotFoundError(id);
  out.done({ replayed: id }, `Replayed ${id}.`);
  return 0;
}

/** The event packet of a dead letter, decoded as any node would; base64 when it does not decode. */
function decode(serializer: Serializer, data: Uint8Array): unknown {
  try {
    return decodePacket(serializer, data).body;
  } catch {
    return { base64: Buffer.from(data).toString("base64") };
  }
}

import type { ServiceBroker } from "../broker/broker.js";
import { DeadLetterNotFoundError } from "../errors/index.js";
import { resolveSerializer, type Serializer } from "../serializers/index.js";
import { decodePacket } from "../transit/codec.js";
import { UsageError } from "./args.js";
import { printJSON } from "./client.js";

/**
 * `flotilla dlq list | show <id> | replay <id>`: the dead letters of durable events, kept by the
 * message broker. (On memory:// and tcp:// they live inside each node and cannot be reached from
 * another process.) An unknown ID fails with `DEAD_LETTER_NOT_FOUND`.
 */
export async function deadLetters(broker: ServiceBroker, args: string[]): Promise<number> {
  const [command, id] = args;
  const store = broker.deadLetters;
  if (!store.persistent) {
    throw new UsageError(
      "Dead letters are kept by the message broker only on amqp://, nats:// and redis://.",
    );
  }
  if (command === "list") {
    const letters = await store.list();
    printJSON(letters.map((l) => ({ id: l.id, event: l.stream, ...l.info })));
    return 0;
  }
  if (id === undefined || (command !== "show" && command !== "replay")) {
    throw new UsageError("Use: flotilla dlq list | show <id> | replay <id>");
  }
  if (command === "show") {
    const letter = (await store.list()).find((l) => l.id === id);
    if (letter === undefined) throw new DeadLetterNotFoundError(id);
    const serializer = resolveSerializer(broker.options.serializer);
    printJSON({
      id: letter.id,
      event: letter.stream,
      ...letter.info,
      packet: decode(serializer, letter.data),
    });
    return 0;
  }
  if (!(await store.replay(id))) throw new DeadLetterNotFoundError(id);
  printJSON({ replayed: id });
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

import type { ServiceBroker } from "../broker/broker.js";
import { UsageError } from "./args.js";
import { printJSON } from "./client.js";

/**
 * `flotilla dlq list | show <id> | replay <id>`: the dead letters of durable events, kept by the
 * message broker. (On memory:// and tcp:// they live inside each node and cannot be reached from
 * another process.)
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
    if (letter === undefined) return notFound(id);
    printJSON({ id: letter.id, event: letter.stream, ...letter.info, packet: decode(letter.data) });
    return 0;
  }
  if (!(await store.replay(id))) return notFound(id);
  printJSON({ replayed: id });
  return 0;
}

function notFound(id: string): number {
  process.stderr.write(
    `${JSON.stringify({ error: { code: "DEAD_LETTER_NOT_FOUND", message: `No dead letter '${id}'.` } })}\n`,
  );
  return 1;
}

/** Shows a JSON packet's body readably; other encodings as base64. */
function decode(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data).subarray(3).toString("utf8"));
  } catch {
    return { base64: Buffer.from(data).toString("base64") };
  }
}

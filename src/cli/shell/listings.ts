import type { ServiceBroker } from "../../broker/broker.js";
import { DeadLetterNotFoundError } from "../../errors/index.js";
import { resolveSerializer } from "../../serializers/index.js";
import { decodePacket } from "../../transit/codec.js";
import { UsageError } from "../args.js";
import type { ShellCommand } from "./context.js";

/** Services named `$…` are Flotilla's own (`$deprecations`): not part of the application. */
const isInternal = (name: string) => name.startsWith("$");

function noArguments(command: string, positionals: readonly string[]): void {
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument '${positionals[0]}'`, command);
  }
}

/** The remote nodes' services, by full name, with their version and nodes. */
function services(broker: ServiceBroker) {
  const byName = new Map<string, { name: string; version: unknown; nodeIDs: string[] }>();
  for (const n of broker.registry.remote.nodes.values()) {
    for (const s of n.info.services) {
      if (isInternal(s.fullName)) continue;
      const entry = byName.get(s.fullName) ?? { name: s.fullName, version: s.version, nodeIDs: [] };
      entry.nodeIDs.push(n.id);
      byName.set(s.fullName, entry);
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export const nodes: ShellCommand = {
  usage: "nodes",
  summary: "the nodes this shell sees: host, CPU, latency and services",
  async run(parsed, { broker, screen }) {
    noArguments("nodes", parsed.positionals);
    const rows = [...broker.registry.remote.nodes.values()].sort((a, b) =>
      a.id.localeCompare(b.id),
    );
    screen.table(rows, {
      NODE: (n) => n.id,
      HOST: (n) => n.hostname,
      CPU: (n) => `${n.cpu}%`,
      LATENCY: (n) => (n.latency === undefined ? undefined : `${n.latency} ms`),
      SERVICES: (n) => n.info.services.map((s) => s.fullName).filter((s) => !isInternal(s)),
    });
  },
};

export const servicesCommand: ShellCommand = {
  usage: "services",
  summary: "services with their version and the nodes that run them",
  async run(parsed, { broker, screen }) {
    noArguments("services", parsed.positionals);
    screen.table(services(broker), {
      SERVICE: (s) => s.name,
      VERSION: (s) => s.version,
      NODES: (s) => s.nodeIDs,
    });
  },
};

export const actions: ShellCommand = {
  usage: "actions",
  summary: "actions with visibility, REST routes and nodes",
  async run(parsed, { broker, screen }) {
    noArguments("actions", parsed.positionals);
    const rows = broker.registry
      .catalog()
      .filter((a) => !isInternal(a.service))
      .sort((a, b) => a.name.localeCompare(b.name));
    screen.table(rows, {
      ACTION: (a) => a.name,
      VISIBILITY: (a) => a.visibility,
      REST: (a) => a.rest,
      PARAMS: (a) => Object.keys((a.params?.properties ?? {}) as object),
      NODES: (a) => a.nodeIDs,
    });
  },
};

export const events: ShellCommand = {
  usage: "events",
  summary: "events listened to: group, durable or not, and the nodes that listen",
  async run(parsed, { broker, screen }) {
    noArguments("events", parsed.positionals);
    const byKey = new Map<
      string,
      { event: string; group: string; durable: boolean; nodeIDs: string[] }
    >();
    for (const n of broker.registry.remote.nodes.values()) {
      for (const s of n.info.services) {
        if (isInternal(s.fullName)) continue;
        for (const e of s.events) {
          const key = `${e.event}\u0000${e.group}`;
          const row = byKey.get(key) ?? {
            event: e.event,
            group: e.group,
            durable: e.durable === true,
            nodeIDs: [],
          };
          if (!row.nodeIDs.includes(n.id)) row.nodeIDs.push(n.id);
          byKey.set(key, row);
        }
      }
    }
    const rows = [...byKey.values()].sort(
      (a, b) => a.event.localeCompare(b.event) || a.group.localeCompare(b.group),
    );
    screen.table(rows, {
      EVENT: (r) => r.event,
      GROUP: (r) => r.group,
      DURABLE: (r) => (r.durable ? "yes" : "no"),
      NODES: (r) => r.nodeIDs,
    });
  },
};

export const dlq: ShellCommand = {
  usage: "dlq list | show <id> | replay <id>",
  summary: "dead letters of durable events (amqp://, nats://, redis://)",
  async run(parsed, { broker, screen }) {
    const [command, id, extra] = parsed.positionals;
    if (command !== "list" && command !== "show" && command !== "replay")
      throw new UsageError("dlq takes list, show <id> or replay <id>", "dlq");
    if (command !== "list" && id === undefined)
      throw new UsageError(`dlq ${command} needs the dead letter's ID`, "dlq");
    const surplus = command === "list" ? id : extra;
    if (surplus !== undefined) throw new UsageError(`unexpected argument '${surplus}'`, "dlq");
    const store = broker.deadLetters;
    if (!store.persistent) {
      throw new UsageError(
        "dead letters are kept by the message broker only on amqp://, nats:// and redis://",
        "dlq",
      );
    }
    if (command === "replay") {
      if (!(await store.replay(id!))) throw new DeadLetterNotFoundError(id!);
      screen.line(`Replayed ${id}.`);
      return;
    }
    const letters = await store.list();
    if (command === "list") {
      screen.table(letters, {
        ID: (l) => l.id,
        EVENT: (l) => l.stream,
        GROUP: (l) => l.info.group,
        ATTEMPTS: (l) => l.info.attempts,
        FAILED: (l) => new Date(l.info.failedAt).toISOString(),
        ERROR: (l) => `${l.info.code}: ${l.info.message}`,
      });
      return;
    }
    const letter = letters.find((l) => l.id === id);
    if (letter === undefined) throw new DeadLetterNotFoundError(id!);
    let event: unknown;
    try {
      event = decodePacket(resolveSerializer(broker.options.serializer), letter.data).body;
    } catch {
      event = { base64: Buffer.from(letter.data).toString("base64") };
    }
    screen.value({ id: letter.id, event: letter.stream, ...letter.info, packet: event });
  },
};

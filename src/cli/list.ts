import type { ServiceBroker } from "../broker/broker.js";
import { type Parsed, UsageError } from "./args.js";
import { clientOptions } from "./call.js";
import { settle, waited, where, withClient } from "./client.js";
import { configure } from "./config/load.js";
import type { Output } from "./output.js";

/**
 * `flotilla nodes | services | actions`: what the registry sees once discovery has settled, as
 * a table on a terminal and JSON otherwise. With nothing found, a hint says where it looked.
 */
export async function list(
  what: "nodes" | "services" | "actions",
  given: Parsed,
  out: Output,
): Promise<number> {
  const { parsed, broker: brokerOptions } = await configure(given, what);
  if (parsed.positionals.length > 0)
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`, what);
  const o = clientOptions(parsed, brokerOptions);
  return withClient(o, async (broker) => {
    await settle(broker, o.wait, `Discovering nodes on ${where(o)}`);
    if (what === "nodes") showNodes(broker, out);
    else if (what === "services") showServices(broker, out);
    else showActions(broker, out);
    if (broker.registry.remote.nodes.size === 0) {
      out.note(
        `no nodes found on ${where(o)} after ${waited(o.wait)}. Are nodes running with the same ` +
          "--namespace and --transporter? (FLOTILLA_NAMESPACE, FLOTILLA_TRANSPORTER)",
      );
    }
    return 0;
  });
}

function showNodes(broker: ServiceBroker, out: Output): void {
  const nodes = [...broker.registry.remote.nodes.values()].map((n) => ({
    nodeID: n.id,
    hostname: n.hostname,
    cpu: n.cpu,
    services: n.info.services.map((s) => s.fullName).filter((name) => !isInternal(name)),
  }));
  out.rows(nodes, {
    NODE: (n) => n.nodeID,
    HOST: (n) => n.hostname,
    CPU: (n) => `${n.cpu}%`,
    SERVICES: (n) => n.services,
  });
}

function showServices(broker: ServiceBroker, out: Output): void {
  type Row = { name: string; version: unknown; nodeIDs: string[] };
  const byName = new Map<string, Row>();
  for (const n of broker.registry.remote.nodes.values()) {
    for (const s of n.info.services) {
      if (isInternal(s.fullName)) continue;
      const entry: Row = byName.get(s.fullName) ?? {
        name: s.fullName,
        version: s.version,
        nodeIDs: [],
      };
      entry.nodeIDs.push(n.id);
      byName.set(s.fullName, entry);
    }
  }
  const services = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  out.rows(
    services,
    { SERVICE: (s) => s.name, VERSION: (s) => s.version, NODES: (s) => s.nodeIDs },
    services.map(({ name, nodeIDs }) => ({ name, nodeIDs })),
  );
}

function showActions(broker: ServiceBroker, out: Output): void {
  const actions = broker.registry
    .catalog()
    .filter((a) => !isInternal(a.service))
    .map((a) => ({
      name: a.name,
      visibility: a.visibility,
      rest: a.rest,
      nodeIDs: a.nodeIDs,
      ...(a.deprecated === undefined ? {} : { deprecated: a.deprecated }),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  type Row = (typeof actions)[number];
  const columns: Record<string, (a: Row) => unknown> = {
    ACTION: (a) => a.name,
    VISIBILITY: (a) => a.visibility,
    REST: (a) => a.rest,
    NODES: (a) => a.nodeIDs,
  };
  // Only when there is something to show: the usual table keeps its four columns.
  if (actions.some((a) => a.deprecated !== undefined)) {
    columns.DEPRECATED = (a) => (a.deprecated === true ? "yes" : a.deprecated);
  }
  out.rows(actions, columns);
}

/** Services named `$…` are Flotilla's own (`$deprecations`): not part of the application. */
function isInternal(serviceFullName: string): boolean {
  return serviceFullName.startsWith("$");
}

import { buildParams, parse, UsageError } from "./args.js";
import { printError, printJSON, serviceOf, settle, withClient } from "./client.js";
import { deadLetters } from "./dlq.js";
import { run } from "./run.js";

const HELP = `flotilla <command> [options]

Commands:
  run <files or globs...>       load service modules into one node and run it
      --instances N, -i N       fork N processes of it
      --health-port PORT        serve /health/live and /health/ready (default $FLOTILLA_HEALTH_PORT)
      --health-host HOST        interface for the probes (default 0.0.0.0)
  call <action> [json] [--key value...]
                                call an action, print the JSON result (exit 1 with the error)
      --timeout MS              time budget of the call (default 10000)
  emit <event> [json] [--key value...]
      --broadcast               deliver to every handler instead of one per group
  nodes | services | actions    list what the cluster offers
  dlq list | show <id> | replay <id>
                                dead letters of durable events (on amqp://, nats://, redis://)

Options for every command:
  --transporter URL, -t URL     how to reach the cluster (default $FLOTILLA_TRANSPORTER, else tcp://)
  --namespace NS, -n NS         cluster namespace (default $FLOTILLA_NAMESPACE)
  --node-id ID                  this node's ID
  --serializer json|msgpack     packet encoding (all nodes must agree)
  --wait MS                     how long call/emit/listings wait for the cluster (default 5000)
`;

/**
 * Runs the `flotilla` command with its arguments and returns the exit status: 0 on success,
 * 1 when the call or command failed (the error and its code are printed), 2 on bad usage.
 */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    const parsed = parse(rest, {
      instances: { type: "string", short: "i" },
      "health-port": { type: "string" },
      "health-host": { type: "string" },
      timeout: { type: "string" },
      wait: { type: "string" },
      broadcast: { type: "boolean" },
    });
    if (command === undefined || command === "help" || command === "--help" || parsed.help) {
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    }
    const wait = Number(parsed.values.wait ?? 5000);
    const client = { ...parsed.common, wait };
    switch (command) {
      case "run":
        return await run(
          parsed.positionals,
          parsed.common,
          Number(parsed.values.instances ?? 1),
          healthOption(parsed.values),
        );
      case "call": {
        const [action, json] = parsed.positionals;
        if (action === undefined) throw new UsageError("flotilla call needs an action name");
        const params = buildParams(json, parsed.extra);
        const timeout =
          parsed.values.timeout === undefined ? undefined : Number(parsed.values.timeout);
        return await withClient(client, async (broker) => {
          await broker.waitForServices(serviceOf(action), wait).catch(() => undefined);
          printJSON(await broker.call(action, params, timeout === undefined ? {} : { timeout }));
          return 0;
        });
      }
      case "emit": {
        const [event, json] = parsed.positionals;
        if (event === undefined) throw new UsageError("flotilla emit needs an event name");
        const payload = buildParams(json, parsed.extra);
        return await withClient(client, async (broker) => {
          await settle(broker, wait);
          await (parsed.values.broadcast
            ? broker.broadcast(event, payload)
            : broker.emit(event, payload));
          printJSON({ emitted: event });
          return 0;
        });
      }
      case "dlq":
        return await withClient(client, (broker) => deadLetters(broker, parsed.positionals));
      case "nodes":
      case "services":
      case "actions":
        return await withClient(client, async (broker) => {
          await settle(broker, wait);
          printJSON(listing(command, broker));
          return 0;
        });
      default:
        throw new UsageError(`Unknown command '${command}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${HELP}`);
      return 2;
    }
    return printError(err);
  }
}

function listing(
  what: "nodes" | "services" | "actions",
  broker: Parameters<Parameters<typeof withClient>[1]>[0],
) {
  const nodes = [...broker.registry.remote.nodes.values()];
  if (what === "nodes") {
    return nodes.map((n) => ({
      nodeID: n.id,
      hostname: n.hostname,
      cpu: n.cpu,
      services: n.info.services.map((s) => s.fullName),
    }));
  }
  if (what === "services") {
    const byName = new Map<string, string[]>();
    for (const n of nodes)
      for (const s of n.info.services)
        byName.set(s.fullName, [...(byName.get(s.fullName) ?? []), n.id]);
    return [...byName]
      .map(([name, nodeIDs]) => ({ name, nodeIDs }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
  return broker.registry
    .catalog()
    .map((a) => ({ name: a.name, visibility: a.visibility, rest: a.rest, nodeIDs: a.nodeIDs }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function healthOption(
  values: Record<string, string | boolean>,
): { port: number; host?: string } | undefined {
  const raw = values["health-port"] ?? process.env.FLOTILLA_HEALTH_PORT;
  if (raw === undefined || typeof raw === "boolean") return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--health-port must be a port, not ${raw}`);
  const host = values["health-host"];
  return typeof host === "string" ? { port, host } : { port };
}

import { buildParams, type Parsed, UsageError } from "./args.js";
import {
  type ClientOptions,
  seen,
  settle,
  waited,
  waitUntil,
  where,
  withClient,
} from "./client.js";
import type { ConfigBrokerOptions } from "./config/define.js";
import { configure } from "./config/load.js";
import type { Output } from "./output.js";

/**
 * The client settings of a parsed command line (flags > environment > config file > defaults,
 * once `configure` completed it), with the config's `broker` options.
 */
export function clientOptions(parsed: Parsed, broker?: ConfigBrokerOptions): ClientOptions {
  const o = parsed.options;
  return {
    ...(broker === undefined ? {} : { broker }),
    transporter: (o.transporter as string | undefined) ?? "tcp://",
    discovery: o.discovery as string | undefined,
    namespace: (o.namespace as string | undefined) ?? "",
    nodeID: o["node-id"] as string | undefined,
    serializer: o.serializer as ClientOptions["serializer"],
    logLevel: o["log-level"] as string | undefined,
    wait: (o.wait as number | undefined) ?? 5000,
  };
}

/**
 * `flotilla call <action> [json] [--key value...]`: waits for a node that offers the action
 * itself (not just its service: two nodes may run different versions of one service), calls it
 * and prints the result. A call that fails prints its error (exit 1), with a hint when no node
 * offers the action.
 */
export async function call(given: Parsed, out: Output): Promise<number> {
  const { parsed, broker: brokerOptions } = await configure(given, "call");
  const [action, json, extra] = parsed.positionals;
  if (action === undefined) throw new UsageError("missing the action to call", "call");
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`, "call");
  const params = buildParams(json, parsed.params, "call");
  const timeout = parsed.options.timeout as number | undefined;
  const o = clientOptions(parsed, brokerOptions);
  return withClient(o, async (broker) => {
    const offered = () => broker.registry.remote.actionEndpoints(action).length > 0;
    await waitUntil(broker, offered, o.wait, `Waiting for action ${action} on ${where(o)}`);
    try {
      out.value(await broker.call(action, params, timeout === undefined ? {} : { timeout }));
      return 0;
    } catch (err) {
      const hint = offered()
        ? undefined
        : `no node offers '${action}' after waiting ${waited(o.wait)} on ${where(o)}; ` +
          `this client saw ${seen(broker)}. Check the action's name, --namespace and ` +
          "--transporter, or wait longer with --wait.";
      return out.callError(err, hint);
    }
  });
}

/** `flotilla emit <event> [json] [--key value...] [--broadcast]`, once discovery has settled. */
export async function emit(given: Parsed, out: Output): Promise<number> {
  const { parsed, broker: brokerOptions } = await configure(given, "emit");
  const [event, json, extra] = parsed.positionals;
  if (event === undefined) throw new UsageError("missing the event to emit", "emit");
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`, "emit");
  const payload = buildParams(json, parsed.params, "emit");
  const o = clientOptions(parsed, brokerOptions);
  return withClient(o, async (broker) => {
    await settle(broker, o.wait, `Discovering nodes on ${where(o)}`);
    try {
      await (parsed.options.broadcast
        ? broker.broadcast(event, payload)
        : broker.emit(event, payload));
    } catch (err) {
      return out.callError(err);
    }
    if (broker.registry.remote.nodes.size === 0) {
      out.note(`no node was seen on ${where(o)} in ${waited(o.wait)}; nobody may have heard it.`);
    }
    out.done({ emitted: event }, `Emitted ${event}.`);
    return 0;
  });
}

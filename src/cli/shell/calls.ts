import { buildParams, duration, integer, type Parsed, UsageError } from "../args.js";
import { seen, waited } from "../client.js";
import { bench, printBench } from "./bench.js";
import { cancellable, offered, type ShellCommand, type ShellContext } from "./context.js";
import { formatSpanTree, spanLine } from "./span-tree.js";
import { newTrace } from "./trace.js";

const TIMEOUT = {
  type: "string",
  value: "MS",
  help: "time budget of each call (default: the action's, else 10000)",
  check: duration(1),
} as const;

/** `<action> [json]` and the params, checked; `what` names the command in usage errors. */
function target(parsed: Parsed, what: string): { action: string; params: unknown } {
  const [action, json, extra] = parsed.positionals;
  if (action === undefined) throw new UsageError(`missing the action to ${what}`, what);
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`, what);
  return { action, params: buildParams(json, parsed.params, what) };
}

function callOptions(parsed: Parsed, signal: AbortSignal) {
  const timeout = parsed.options.timeout as number | undefined;
  return timeout === undefined ? { signal } : { timeout, signal };
}

/** Waits for the action; when nobody offers it, says where the shell looked. */
async function reach(ctx: ShellContext, action: string): Promise<void> {
  if (await offered(ctx, action)) return;
  if (ctx.signal.aborted) return;
  ctx.screen.note(
    `no node offers '${action}' after waiting ${waited(ctx.wait)} on ${ctx.where}; ` +
      `this shell sees ${seen(ctx.broker)}.`,
  );
}

export const call: ShellCommand = {
  usage: "call <action> [params as JSON] [--key value...] [--timeout MS]",
  summary: "call an action and print its result (Tab completes names, then a params skeleton)",
  options: { timeout: TIMEOUT },
  params: true,
  async run(parsed, ctx) {
    const { action, params } = target(parsed, "call");
    await reach(ctx, action);
    const pending = ctx.broker.call(action, params, callOptions(parsed, ctx.signal));
    ctx.screen.value(await cancellable(pending, ctx.signal, action));
  },
};

function emitter(kind: "emit" | "broadcast"): ShellCommand {
  return {
    usage: `${kind} <event> [payload as JSON] [--key value...]`,
    summary:
      kind === "emit"
        ? "emit an event: one handler per group receives it"
        : "broadcast an event: every handler on every node receives it",
    params: true,
    async run(parsed, ctx) {
      const [event, json, extra] = parsed.positionals;
      if (event === undefined) throw new UsageError(`missing the event to ${kind}`, kind);
      if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`, kind);
      const payload = buildParams(json, parsed.params, kind);
      await (kind === "emit"
        ? ctx.broker.emit(event, payload)
        : ctx.broker.broadcast(event, payload));
      const heard = ctx.broker.registry.remote.listenersFor(event).length;
      ctx.screen.line(`${kind === "emit" ? "Emitted" : "Broadcast"} ${event}.`);
      if (heard === 0) ctx.screen.note(`no node this shell sees listens to '${event}'.`);
    },
  };
}

export const emit = emitter("emit");
export const broadcast = emitter("broadcast");

export const benchCommand: ShellCommand = {
  usage:
    "bench <action> [params as JSON] [--key value...] [--duration 5s | --count N] [--concurrency N]",
  summary: "call an action repeatedly: calls/s and p50/p90/p99 latency (Ctrl-C stops it)",
  options: {
    duration: {
      type: "string",
      value: "DURATION",
      help: "how long to run (default 5s unless --count is given)",
      check: duration(1),
    },
    count: {
      type: "string",
      value: "N",
      help: "how many calls to make",
      check: integer(1, 1_000_000_000),
    },
    concurrency: {
      type: "string",
      value: "N",
      help: "calls in flight at once (default 1)",
      check: integer(1, 10_000),
    },
    timeout: TIMEOUT,
  },
  params: true,
  async run(parsed, ctx) {
    const { action, params } = target(parsed, "bench");
    await reach(ctx, action);
    if (ctx.signal.aborted) return;
    const plan = {
      duration: parsed.options.duration as number | undefined,
      count: parsed.options.count as number | undefined,
      concurrency: (parsed.options.concurrency as number | undefined) ?? 1,
    };
    const timeout = parsed.options.timeout as number | undefined;
    const result = await bench(
      (signal) =>
        ctx.broker.call(action, params, timeout === undefined ? { signal } : { timeout, signal }),
      plan,
      ctx.signal,
      ctx.progress,
    );
    printBench(ctx.screen, action, plan, result);
  },
};

export const traceCommand: ShellCommand = {
  usage: "trace <action> [params as JSON] [--key value...] [--timeout MS]",
  summary: "call an action once with tracing and print its spans as a tree",
  options: { timeout: TIMEOUT },
  params: true,
  async run(parsed, ctx) {
    const { action, params } = target(parsed, "trace");
    const spans = ctx.spans;
    if (spans.kind === "off") throw spans.reason;
    await reach(ctx, action);
    const t = newTrace();
    const collected = spans.kind === "memory" ? spans.watch(t.traceId) : undefined;
    let failure: unknown;
    try {
      const pending = t.run(() => ctx.broker.call(action, params, callOptions(parsed, ctx.signal)));
      ctx.screen.value(await cancellable(pending, ctx.signal, action));
    } catch (err) {
      failure = err;
    }
    const s = ctx.screen;
    s.line(`${s.bold("trace")} ${t.traceId}`);
    if (collected === undefined) {
      const exporter = spans.kind === "exported" ? spans.exporter : "";
      s.note(`  its spans went to OTEL_TRACES_EXPORTER=${exporter}`);
    } else {
      const lines = collected().map(spanLine);
      for (const line of formatSpanTree(lines, s)) s.line(`  ${line}`);
      // A call served by another node: its spans are made, and exported, over there.
      if (!lines.some((l) => l.kind === "server")) {
        s.note("  spans made on the serving node are exported by that node (OTEL_TRACES_EXPORTER)");
      }
    }
    if (failure !== undefined) throw failure;
  },
};

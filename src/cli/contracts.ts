import { statSync } from "node:fs";
import { relative, resolve } from "node:path";
import type { ServiceBroker } from "../broker/broker.js";
import { findCallSites, type ServiceModule } from "../contracts/call-sites.js";
import { type CheckContext, checkCompatibility } from "../contracts/compat.js";
import { formatReport } from "../contracts/report.js";
import {
  type ContractSnapshot,
  contractOfDefinition,
  contractOfDescriptor,
  type ServiceContract,
  snapshotOf,
} from "../contracts/snapshot.js";
import { formatSnapshot, readSnapshot, writeSnapshot } from "../contracts/snapshot-file.js";
import { sameJSON } from "../contracts/stable-json.js";
import { serviceFullName } from "../service/define.js";
import { type Parsed, UsageError } from "./args.js";
import { clientOptions } from "./call.js";
import { settle, waited, where, withClient } from "./client.js";
import { configure } from "./config/load.js";
import { expandFiles, loadServices } from "./load.js";
import { locate, syntaxLocation } from "./locate.js";
import { type Output, wantsColor } from "./output.js";

/** One side of a comparison: its contracts, where they came from, and what else is known. */
interface Side {
  label: string;
  snapshot: ContractSnapshot;
  /** Loaded service modules (from files), for call sites. */
  modules?: ServiceModule[];
  /** Nodes per service (from a cluster). */
  nodes?: Map<string, string[]>;
}

/** A side could not be read; the message has been printed and the command ends with 1. */
class Reported extends Error {}

/**
 * `flotilla contracts snapshot | check | deprecated`: writes the contracts of services (from
 * their files, or from a running cluster when no file is named) to a reviewable JSON file;
 * compares them with a snapshot or a cluster and exits 1 when a change breaks a caller, an
 * emitter or a handler; lists who still calls the deprecated members of a running cluster.
 */
export async function contracts(given: Parsed, out: Output): Promise<number> {
  // The config file and environment fill in what the flags leave (transporter, namespace...).
  const { parsed } = await configure(given, "contracts");
  const [command, ...sources] = parsed.positionals;
  if (command === undefined)
    throw new UsageError("missing: snapshot, check or deprecated", "contracts");
  try {
    if (command === "snapshot") return await snapshot(sources, parsed, out);
    if (command === "check") return await check(sources, parsed, out);
    if (command === "deprecated") return await deprecated(sources, parsed, out);
    throw new UsageError(
      `unknown contracts command '${command}' (snapshot, check, deprecated)`,
      "contracts",
    );
  } catch (err) {
    if (err instanceof Reported) return 1;
    throw err;
  }
}

async function snapshot(sources: string[], parsed: Parsed, out: Output): Promise<number> {
  if (parsed.options.against !== undefined)
    throw new UsageError("--against belongs to 'contracts check'", "contracts");
  const path = (parsed.options.out as string | undefined) ?? "contracts.json";
  const side = sources.length > 0 ? await fromFiles(sources, out) : await fromCluster(parsed, out);
  if (path === "-") {
    out.out.write(formatSnapshot(side.snapshot));
    return 0;
  }
  const written = writeSnapshot(path, side.snapshot);
  const services = Object.keys(side.snapshot.services).sort();
  out.done(
    { written, services },
    `Wrote the contracts of ${services.length} service${services.length === 1 ? "" : "s"} ` +
      `(${services.join(", ") || "none"}) to ${written.length === 1 ? written[0] : path}.`,
  );
  return 0;
}

async function check(sources: string[], parsed: Parsed, out: Output): Promise<number> {
  if (parsed.options.out !== undefined)
    throw new UsageError("--out belongs to 'contracts snapshot'", "contracts");
  const against = parsed.options.against as string | undefined;
  if (against === undefined)
    throw new UsageError(
      "missing --against <snapshot file or folder | cluster | URL>",
      "contracts",
    );
  const againstCluster = against === "cluster" || against.includes("://");
  if (againstCluster && sources.length === 0)
    throw new UsageError(
      "name the service files (or a snapshot file) to compare with the cluster",
      "contracts",
    );
  const after = await currentSide(sources, parsed, out);
  const before = againstCluster
    ? await fromCluster(withTransporter(parsed, against), out)
    : fromSnapshotFile(against);
  const context: CheckContext = {
    nodes: new Map([...(before.nodes ?? []), ...(after.nodes ?? [])]),
  };
  // A cluster runs services from elsewhere too: only those named here are checked against it.
  if (againstCluster) context.only = new Set(Object.keys(after.snapshot.services));
  if (after.modules !== undefined) {
    context.callSites = findCallSites(after.modules, actionsOf(before.snapshot, after.snapshot));
  }
  const report = checkCompatibility(before.snapshot, after.snapshot, context);
  if (parsed.options.json === true) {
    out.value({ before: before.label, after: after.label, ...report });
  } else {
    // Painted for where the report goes (stdout), not for stderr as notes are.
    const paint = (code: number) => (text: string) =>
      wantsColor(out.out) ? `\x1b[${code}m${text}\x1b[0m` : text;
    const style = { bold: paint(1), red: paint(31), dim: paint(2) };
    out.out.write(formatReport(report, { before: before.label, after: after.label }, style));
  }
  return report.breaking > 0 ? 1 : 0;
}

/** `flotilla contracts deprecated`: each deprecated member of the cluster and who calls it. */
async function deprecated(sources: string[], parsed: Parsed, out: Output): Promise<number> {
  if (sources.length > 0)
    throw new UsageError(
      `unexpected argument '${sources[0]}' (deprecated reads the cluster)`,
      "contracts",
    );
  const o = clientOptions(parsed);
  // Loaded on use: only this subcommand asks nodes for their counts.
  const { deprecatedRows, deprecatedUsage } = await import("../contracts/deprecated.js");
  return withClient(o, async (broker) => {
    await settle(broker, o.wait, `Discovering nodes on ${where(o)}`);
    const report = await deprecatedUsage(broker);
    for (const { nodeID, error } of report.unreachable)
      out.note(`node ${nodeID} did not say who calls its deprecated members: ${error}`);
    out.rows(
      deprecatedRows(report),
      {
        MEMBER: (r) => `${r.kind} ${r.name}`,
        INSTEAD: (r) => r.hint,
        CALLER: (r) => r.caller,
        NODE: (r) => r.callerNodeID,
        CALLS: (r) => r.calls,
      },
      report,
    );
    return 0;
  });
}

/** What is about to ship: service files, one snapshot file, or (with none named) the cluster. */
async function currentSide(sources: string[], parsed: Parsed, out: Output): Promise<Side> {
  if (sources.length === 1 && sources[0]!.endsWith(".json")) return fromSnapshotFile(sources[0]!);
  return sources.length > 0 ? fromFiles(sources, out) : fromCluster(parsed, out);
}

function fromSnapshotFile(path: string): Side {
  if (!statSync(path, { throwIfNoEntry: false }))
    throw new UsageError(`no such snapshot file or folder: ${path}`, "contracts");
  return { label: path, snapshot: readSnapshot(path) };
}

/** Loads service modules as `flotilla run` does, and takes their contracts. */
async function fromFiles(patterns: string[], out: Output): Promise<Side> {
  const files = new Set<string>();
  for (const pattern of patterns) {
    if (!/[*?]/.test(pattern) && !statSync(resolve(pattern), { throwIfNoEntry: false }))
      throw new UsageError(`no such file or directory: ${pattern}`, "contracts");
    const found = expandFiles([pattern]);
    if (found.length === 0)
      throw new UsageError(`no service modules match ${pattern}`, "contracts");
    for (const f of found) files.add(f);
  }
  const contracts: ServiceContract[] = [];
  const modules: ServiceModule[] = [];
  for (const file of files) {
    try {
      const definitions = await loadServices([file]);
      const own = definitions.map(contractOfDefinition);
      contracts.push(...own);
      modules.push({ file, services: own.map((c) => serviceFullName(c.name, c.version)) });
    } catch (err) {
      const at =
        err instanceof SyntaxError && locate(err) === undefined ? syntaxLocation(file) : undefined;
      out.localError(err, `cannot load ${relative(process.cwd(), file) || file}`, at);
      throw new Reported();
    }
  }
  const label = patterns.join(" ");
  return { label, snapshot: snapshotOf(contracts), modules };
}

/** Joins the cluster as `flotilla services` does and takes what its nodes announce. */
async function fromCluster(parsed: Parsed, out: Output): Promise<Side> {
  const o = clientOptions(parsed);
  return withClient(o, async (broker) => {
    await settle(broker, o.wait, `Discovering nodes on ${where(o)}`);
    if (broker.registry.remote.nodes.size === 0) {
      out.localError(
        new Error(
          `no nodes found on ${where(o)} after ${waited(o.wait)}: is the cluster running with ` +
            "this --transporter and --namespace? (FLOTILLA_TRANSPORTER, FLOTILLA_NAMESPACE)",
        ),
      );
      throw new Reported();
    }
    return clusterSide(broker, `the cluster on ${where(o)}`, out);
  });
}

function clusterSide(broker: ServiceBroker, label: string, out: Output): Side {
  const nodes = new Map<string, string[]>();
  const contracts = new Map<string, ServiceContract>();
  const ids = [...broker.registry.remote.nodes.keys()].sort();
  for (const id of ids) {
    for (const d of broker.registry.remote.nodes.get(id)!.info.services) {
      const contract = contractOfDescriptor(d);
      nodes.set(d.fullName, [...(nodes.get(d.fullName) ?? []), id]);
      const first = contracts.get(d.fullName);
      if (first === undefined) contracts.set(d.fullName, contract);
      else if (!sameJSON(first, contract))
        out.note(
          `nodes disagree on the contract of ${d.fullName} (${nodes.get(d.fullName)!.join(", ")}): ` +
            `using ${nodes.get(d.fullName)![0]}'s`,
        );
    }
  }
  return { label, snapshot: snapshotOf(contracts.values()), nodes };
}

/** `--against nats://...`: the cluster at that URL, whatever `--transporter` says. */
function withTransporter(parsed: Parsed, against: string): Parsed {
  if (against === "cluster") return parsed;
  return { ...parsed, options: { ...parsed.options, transporter: against } };
}

/** Every action of both sides, by full name, with its service. */
function actionsOf(...snapshots: ContractSnapshot[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of snapshots)
    for (const [service, c] of Object.entries(s.services))
      for (const key of Object.keys(c.actions)) out.set(`${service}.${key}`, service);
  return out;
}

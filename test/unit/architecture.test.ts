import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The import rules of docs/architecture.md, checked on the source: every relative import of
// every file under src/, type-only imports included (a type-level circle is still a circle).
const root = fileURLToPath(new URL("../../src/", import.meta.url));
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/g;

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) =>
    f.endsWith(".ts"),
  );
  for (const file of files) {
    const text = readFileSync(join(root, file), "utf8");
    const targets = [...text.matchAll(IMPORT)].map((m) =>
      relative(root, normalize(join(root, dirname(file), m[1]!))).replace(/\.js$/, ".ts"),
    );
    graph.set(file, targets);
  }
  return graph;
}

/** Groups of files that import each other, directly or through others (Tarjan's algorithm). */
function circles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1) found.push(group.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const folder = (file: string) => file.split("/")[0]!;

/** Imports from files under `from` into the folders `to`, as "importer -> imported". */
function crossings(graph: Map<string, string[]>, from: string, to: readonly string[]): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    if (!file.startsWith(`${from}/`) && file !== from) continue;
    for (const t of targets) if (to.includes(folder(t))) out.push(`${file} -> ${t}`);
  }
  return out;
}

describe("the import rules of docs/architecture.md", () => {
  const graph = importGraph();

  it("reads the whole source tree", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("broker/broker.ts")).toContain("transit/open.ts");
  });

  it("has no import circle between files, type-only imports included", () => {
    expect(circles(graph)).toEqual([]);
  });

  it("keeps transit free of durable events, and transporters down to moving bytes", () => {
    expect(crossings(graph, "transit", ["events"])).toEqual([]);
    const edges = new Set(["broker/remote.ts", "broker/context.ts", "broker/options.ts"]);
    expect(
      crossings(graph, "transit", ["broker"]).filter((c) => !edges.has(c.split(" -> ")[1]!)),
    ).toEqual([]);
    for (const lower of ["transporters", "security"])
      expect(
        crossings(graph, lower, ["broker", "transit", "events", "registry", "service"]),
      ).toEqual([]);
  });

  it("keeps the catalogue (registry) below the wire, and the per-call types a leaf", () => {
    expect(crossings(graph, "registry", ["broker", "transit", "events"])).toEqual([]);
    expect(graph.get("service/call-types.ts")).toEqual([]);
    expect(crossings(graph, "service", ["broker", "transit", "registry", "events"])).toEqual([]);
  });

  it("keeps the discoverers (registry centers) below the broker and the wire", () => {
    expect(
      crossings(graph, "registry/discoverers", [
        "broker",
        "transit",
        "transporters",
        "events",
        "service",
      ]),
    ).toEqual([]);
  });

  it("keeps the data layer beside the broker: it publishes through a callback, never through transit", () => {
    expect(
      crossings(graph, "data", ["broker", "transit", "events", "registry", "transporters"]),
    ).toEqual([]);
    // The broker reaches the runtime of src/data/ only by a dynamic import (Kysely and the
    // drivers load when a service has a database); statically, types and the inbox wrapper.
    const allowed = new Set([
      "data/types.ts",
      "data/config.ts",
      "data/database.ts",
      "data/inbox.ts",
    ]);
    expect(
      crossings(graph, "broker", ["data"]).filter((c) => !allowed.has(c.split(" -> ")[1]!)),
    ).toEqual([]);
  });
});

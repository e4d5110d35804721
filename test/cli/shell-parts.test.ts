import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Histogram } from "../../src/cli/shell/histogram.js";
import { historyPath, loadHistory, saveHistory } from "../../src/cli/shell/history.js";
import { formatTable } from "../../src/cli/shell/screen.js";
import { oneLine, skeleton } from "../../src/cli/shell/skeleton.js";
import { formatSpanTree, type SpanLine } from "../../src/cli/shell/span-tree.js";
import { words } from "../../src/cli/shell/tokens.js";

// The shell's parts that need no terminal and no cluster: how a typed line is split, what Tab
// inserts, how tables, percentiles and span trees print, and how history is kept.

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("a typed line", () => {
  it("takes JSON params as one word, spaces and all, without quoting", () => {
    expect(
      words(`call users.create {"name": "Ada Lovelace", "tags": ["a", "b"]} --timeout 2s`),
    ).toEqual([
      "call",
      "users.create",
      `{"name": "Ada Lovelace", "tags": ["a", "b"]}`,
      "--timeout",
      "2s",
    ]);
  });

  it("keeps brackets inside JSON strings from ending the word", () => {
    expect(words(`call a.b {"s": "}{ ]"} x`)).toEqual(["call", "a.b", `{"s": "}{ ]"}`, "x"]);
  });

  it("quotes words like a shell: single, double with escapes, glued to the flag", () => {
    expect(words(`emit e --name 'Ada L' --q "say \\"hi\\"" --k="a b"`)).toEqual([
      "emit",
      "e",
      "--name",
      "Ada L",
      "--q",
      'say "hi"',
      "--k=a b",
    ]);
  });

  it("refuses an unterminated quote", () => {
    expect(() => words(`call a.b --name 'Ada`)).toThrow("unterminated ' quote");
    expect(() => words(`call a.b --name "Ada`)).toThrow('unterminated " quote');
  });

  it("is empty for a blank line", () => {
    expect(words("   \t ")).toEqual([]);
  });
});

describe("the params skeleton", () => {
  it("gives each property an empty value of its type, in order", () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string" },
        age: { type: "integer" },
        admin: { type: "boolean" },
        tags: { type: "array", items: { type: "string" } },
        address: { type: "object", properties: { city: { type: "string" } } },
        role: { enum: ["user", "admin"] },
        size: { type: "number", default: 3 },
        note: { anyOf: [{ type: "null" }, { type: "string" }] },
      },
    };
    expect(oneLine(skeleton(schema))).toBe(
      '{"name": "", "age": 0, "admin": false, "tags": [], "address": {"city": ""}, "role": "user", "size": 3, "note": ""}',
    );
  });

  it("says nothing for no schema, and stops at a deep one", () => {
    expect(skeleton(undefined)).toBeUndefined();
    let deep: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 20; i++) deep = { type: "object", properties: { x: deep } };
    expect(JSON.stringify(skeleton(deep))).not.toContain('""');
  });
});

describe("tables", () => {
  it("aligns columns, joins lists, and shows - for nothing", () => {
    const rows = [
      { id: "math-1", services: ["math", "greeter"], cpu: 3 },
      { id: "n2", services: [], cpu: undefined },
    ];
    expect(
      formatTable(rows, { NODE: (r) => r.id, CPU: (r) => r.cpu, SERVICES: (r) => r.services }),
    ).toEqual(["NODE    CPU  SERVICES", "math-1  3    math, greeter", "n2      -    -"]);
  });

  it("says (none) for no rows", () => {
    expect(formatTable([], { NODE: () => "" })).toEqual(["(none)"]);
  });
});

describe("latency percentiles", () => {
  it("are within 1% of the exact ones, with exact min, max and mean", () => {
    const h = new Histogram();
    for (let i = 1; i <= 10_000; i++) h.record(i / 100); // 0.01 .. 100 ms
    expect(h.count).toBe(10_000);
    expect(h.min).toBe(0.01);
    expect(h.max).toBe(100);
    expect(h.mean).toBeCloseTo(50.005, 6);
    for (const [p, exact] of [
      [50, 50],
      [90, 90],
      [99, 99],
    ] as const) {
      expect(Math.abs(h.percentile(p) - exact) / exact).toBeLessThan(0.01);
    }
  });

  it("are 0 with no calls", () => {
    expect(new Histogram().percentile(99)).toBe(0);
  });
});

describe("span trees", () => {
  const span = (over: Partial<SpanLine> & { id: string }): SpanLine => ({
    parentId: undefined,
    name: "x",
    kind: "internal",
    start: 0,
    durationMs: 1,
    nodeID: undefined,
    error: undefined,
    ...over,
  });

  it("nests children under parents in start order, and roots a span whose parent is away", () => {
    const lines = formatSpanTree([
      span({
        id: "c",
        parentId: "gone",
        name: "orders/place",
        kind: "client",
        nodeID: "cli-1",
        durationMs: 12.345,
      }),
      span({
        id: "s2",
        parentId: "c",
        name: "stock/reserve",
        kind: "server",
        start: 2,
        nodeID: "n2",
      }),
      span({ id: "s1", parentId: "c", name: "users/get", kind: "server", start: 1, nodeID: "n1" }),
      span({ id: "g", parentId: "s1", name: "db", start: 1.5, error: "DB_ERROR" }),
    ]);
    expect(lines).toEqual([
      "orders/place  client  cli-1  12.3 ms",
      "├─ users/get  server  n1  1.00 ms",
      "│  └─ db  internal  -  1.00 ms  DB_ERROR",
      "└─ stock/reserve  server  n2  1.00 ms",
    ]);
  });
});

describe("history", () => {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-shell-history-"));
  dirs.push(dir);

  it("lives in the project folder: the nearest one with a package.json", () => {
    const project = join(dir, "shop");
    mkdirSync(join(project, "services", "orders"), { recursive: true });
    writeFileSync(join(project, "package.json"), "{}");
    expect(historyPath(undefined, join(project, "services", "orders"))).toBe(
      join(project, ".flotilla", "shell_history"),
    );
    expect(historyPath("h.txt", project)).toBe(join(project, "h.txt"));
  });

  it("keeps the newest lines up to its size, oldest first in the file", () => {
    const h = { path: join(dir, "nested", "history"), size: 3 };
    saveHistory(h, ["d", "c", "b", "a"]); // readline's order: newest first
    expect(readFileSync(h.path, "utf8")).toBe("b\nc\nd\n");
    expect(loadHistory(h)).toEqual(["d", "c", "b"]);
    expect(loadHistory({ ...h, size: 2 })).toEqual(["d", "c"]);
  });

  it("reads and writes nothing with size 0, and nothing from a missing file", () => {
    const h = { path: join(dir, "off"), size: 0 };
    saveHistory(h, ["a"]);
    expect(() => readFileSync(h.path)).toThrow();
    expect(loadHistory({ path: join(dir, "missing"), size: 10 })).toEqual([]);
  });
});

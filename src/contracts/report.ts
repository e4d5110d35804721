import type { Affected, CompatibilityReport, ContractChange } from "./compat.js";

/** How a report is painted: plain text by default, colours on a terminal. */
export interface ReportStyle {
  bold?: (text: string) => string;
  red?: (text: string) => string;
  dim?: (text: string) => string;
}

/**
 * The report people read in CI logs: a summary line, each breaking change with the member, the
 * field, why it breaks and whose code, then the compatible ones, one line each.
 *
 * @example
 * ```text
 * BREAKING  action orders.checkout  params.coupon
 *   why:     became required (it was optional): callers that leave it out are refused
 *   breaks:  its callers: HTTP clients of POST /orders
 * ```
 */
export function formatReport(
  report: CompatibilityReport,
  sides: { before: string; after: string },
  style: ReportStyle = {},
): string {
  const bold = style.bold ?? id;
  const red = style.red ?? id;
  const dim = style.dim ?? id;
  const lines: string[] = [];
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  lines.push(
    `${bold("flotilla contracts check")}: ${count(report.breaking, "breaking change")}, ` +
      `${report.compatible} compatible`,
  );
  lines.push(dim(`  before: ${sides.before}`), dim(`  after:  ${sides.after}`), "");
  for (const c of report.changes.filter((change) => change.breaking)) {
    lines.push(`${red("BREAKING")}  ${c.kind} ${bold(c.name)}${field(c) ? `  ${field(c)}` : ""}`);
    lines.push(`  why:     ${c.why}`);
    lines.push(`  breaks:  ${side(c)}`);
    lines.push(`  ${c.affects}: ${affected(c)}`, "");
  }
  const compatible = report.changes.filter((change) => !change.breaking);
  if (compatible.length > 0) {
    lines.push(bold("Compatible:"));
    for (const c of compatible)
      lines.push(`  ${c.kind} ${c.name}${field(c) ? `  ${field(c)}` : ""}: ${c.why}`);
    lines.push("");
  }
  if (report.changes.length === 0) lines.push("No changes.", "");
  return `${lines.join("\n")}\n`;
}

/** Where in the member the change is: `params.coupon`, `result`, `payload.total`, `route GET /x`. */
export function field(c: ContractChange): string {
  if (c.part === "member") return "";
  if (c.part === "routes") return `route ${c.path}`;
  const root = c.part === "handler" || c.part === "emits" ? "payload" : c.part;
  return c.path === "" ? root : `${root}.${c.path}`;
}

/** Which side of the call or event breaks, in words. */
function side(c: ContractChange): string {
  if (c.affects === "callers")
    return c.part === "result"
      ? "its callers, which read the result"
      : c.part === "params"
        ? "its callers, which send these params"
        : "its callers";
  if (c.affects === "emitters")
    return `the emitters of ${c.name}: ${c.service}'s handler may refuse what they send`;
  return `the handlers of ${c.name}, which read what ${c.service} emits`;
}

/** `greeter (depends on math; nodes: n1)`, or `any caller of math.add` when nobody is known. */
export function affected(c: ContractChange): string {
  if (c.affected.length === 0) {
    const role =
      c.affects === "callers" ? "caller" : c.affects === "emitters" ? "emitter" : "handler";
    return `any ${role} of ${c.name}`;
  }
  return c.affected.map(describe).join("; ");
}

function describe(a: Affected): string {
  const nodes = a.nodes && a.nodes.length > 0 ? `; nodes: ${a.nodes.join(", ")}` : "";
  return a.service === undefined ? a.how : `${a.service} (${a.how}${nodes})`;
}

function id(text: string): string {
  return text;
}

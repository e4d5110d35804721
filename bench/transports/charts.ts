// SVG charts of the transport benchmark, drawn by hand (no library): from a results file
// (BENCH_RESULTS, default bench/results/transports.json) into charts/ beside it:
//   throughput.svg         calls/s per transport and contender, 1 and 64 in flight, min–max whiskers
//   latency-<t>.svg        latency by percentile at 50 % load, log scales, one line per contender
//   payloads.svg           echo MB/s per payload size, transport, contender and codec
// Run: node --import tsx bench/transports/charts.ts   (run.ts calls it at the end)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kind } from "./contract.js";
import {
  duration,
  KIND_LABEL,
  KIND_ORDER,
  PAYLOAD_SIZES,
  type Results,
  type Stat,
  statAt,
} from "./report.js";

/** Okabe–Ito colours: told apart with the common colour-vision deficiencies. */
const COLOR: Record<Kind, string> = {
  raw: "#8c8c8c",
  moleculer: "#E69F00",
  nestjs: "#CC79A7",
  flotilla: "#0072B2",
};
const TRANSPORTS = ["tcp", "nats", "redis", "amqp"];
const FONT = `font-family="system-ui, sans-serif"`;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const text = (x: number, y: number, s: string, attrs = "") =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
const svg = (w: number, h: number, body: string[]) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ${FONT} font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${body.join("\n")}\n</svg>\n`;
/** The title of a chart, top left. */
const heading = (s: string) => text(70, 28, s, `font-size="16" font-weight="bold"`);

/** 12345 → "12.3k": short labels that fit above a bar. */
const compact = (x: number): string =>
  x >= 1e6
    ? `${+(x / 1e6).toPrecision(3)}M`
    : x >= 1e3
      ? `${+(x / 1e3).toPrecision(3)}k`
      : `${+x.toPrecision(3)}`;

/** A round tick step (1, 2 or 5 × 10ⁿ) giving about five ticks up to `max`. */
function tickStep(max: number): number {
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
}

interface Series {
  label: string;
  color: string;
  /** Lighter fill with a dark outline: the second codec of a contender. */
  light?: boolean;
}

/** Legend entries left to right, wrapping into rows of at most 900 px (label width estimated). */
function legend(x: number, y: number, items: Series[]): string[] {
  let at = x;
  let row = y;
  return items.map((item) => {
    const width = 34 + item.label.length * 7;
    if (at + width > x + 900) [at, row] = [x, row + 20];
    const fill = item.light
      ? `fill="${item.color}" fill-opacity="0.35" stroke="${item.color}"`
      : `fill="${item.color}"`;
    const entry = `<rect x="${at}" y="${row - 10}" width="14" height="12" ${fill}/>${text(at + 19, row, item.label)}`;
    at += width;
    return entry;
  });
}

/** One bar panel: groups along x, a bar per series in each, min–max whiskers, median labels. */
function barPanel(
  box: { x: number; y: number; w: number; h: number },
  title: string,
  unit: string,
  groups: string[],
  series: Series[],
  value: (group: string, series: number) => Stat | undefined,
): string[] {
  const out = [text(box.x, box.y - 8, title, `font-weight="bold" font-size="14"`)];
  const top = Math.max(1e-9, ...groups.flatMap((g) => series.map((_, s) => value(g, s)?.max ?? 0)));
  const step = tickStep(top);
  const yMax = Math.ceil((top * 1.12) / step) * step;
  const y = (v: number) => box.y + box.h - (v / yMax) * box.h;
  for (let t = 0; t <= yMax + step / 2; t += step) {
    out.push(
      `<line x1="${box.x}" x2="${box.x + box.w}" y1="${y(t)}" y2="${y(t)}" stroke="#e3e3e3"/>`,
    );
    out.push(text(box.x - 6, y(t) + 4, compact(t), `text-anchor="end" fill="#555"`));
  }
  out.push(text(box.x - 6, box.y - 8, unit, `text-anchor="end" fill="#555" font-size="11"`));
  const groupW = box.w / groups.length;
  const barW = Math.min(48, (groupW * 0.8) / series.length);
  groups.forEach((group, g) => {
    const left = box.x + g * groupW + (groupW - barW * series.length) / 2;
    out.push(
      text(
        box.x + (g + 0.5) * groupW,
        box.y + box.h + 16,
        group,
        `text-anchor="middle" font-weight="bold"`,
      ),
    );
    series.forEach((s, i) => {
      const stat = value(group, i);
      if (!stat) return;
      const x = left + i * barW;
      const mid = x + barW / 2;
      const fill = s.light
        ? `fill="${s.color}" fill-opacity="0.35" stroke="${s.color}"`
        : `fill="${s.color}"`;
      out.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${y(stat.median).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(box.y + box.h - y(stat.median)).toFixed(1)}" ${fill}/>`,
      );
      out.push(
        `<path d="M${mid} ${y(stat.min)}V${y(stat.max)}M${mid - 4} ${y(stat.min)}h8M${mid - 4} ${y(stat.max)}h8" stroke="#222" fill="none"/>`,
      );
      const size = barW < 30 ? 9 : 10;
      out.push(
        text(
          mid,
          y(stat.max) - 4,
          compact(stat.median),
          `text-anchor="middle" font-size="${size}"`,
        ),
      );
    });
  });
  out.push(
    `<line x1="${box.x}" x2="${box.x + box.w}" y1="${box.y + box.h}" y2="${box.y + box.h}" stroke="#333"/>`,
  );
  return out;
}

const kindSeries = (kinds: Kind[]): Series[] =>
  kinds.map((k) => ({ label: KIND_LABEL[k], color: COLOR[k] }));

function throughputChart(r: Results): string {
  const groups = TRANSPORTS.filter((t) => r.throughput[t]);
  const kinds = KIND_ORDER.filter((k) =>
    groups.some((t) => statAt(r.throughput, t, k, 1, "callsPerSec")),
  );
  const series = kindSeries(kinds);
  const body = [heading("Remote call throughput (calls/s, median of rounds, whiskers min–max)")];
  [1, 64].forEach((n, i) => {
    const box = { x: 70, y: 80 + i * 320, w: 900, h: 240 };
    body.push(
      ...barPanel(
        box,
        `${n} call${n > 1 ? "s" : ""} in flight`,
        "calls/s",
        groups,
        series,
        (t, s) => statAt(r.throughput, t, kinds[s]!, n, "callsPerSec"),
      ),
    );
  });
  body.push(...legend(70, 52, series));
  return svg(1000, 700, body);
}

/** x position of a percentile on a "nines" scale: 90 → 1, 99 → 2, 99.9 → 3. */
const nines = (p: number) => -Math.log10(1 - p / 100);

function latencyChart(r: Results, transport: string): string {
  const percentiles = [
    { p: 50, key: "p50" },
    { p: 90, key: "p90" },
    { p: 99, key: "p99" },
    { p: 99.9, key: "p999" },
  ];
  const kinds = KIND_ORDER.filter((k) => statAt(r.latency, transport, k, 50, "p50"));
  const stats = kinds.flatMap((k) =>
    percentiles.map(({ key }) => statAt(r.latency, transport, k, 50, key)!).filter(Boolean),
  );
  const low = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...stats.map((s) => s.min)))));
  const high = 10 ** Math.ceil(Math.log10(Math.max(10, ...stats.map((s) => s.max))));
  const box = { x: 90, y: 80, w: 860, h: 520 };
  const x = (p: number) =>
    box.x + 30 + ((nines(p) - nines(50)) / (nines(99.9) - nines(50))) * (box.w - 60);
  const y = (us: number) =>
    box.y +
    box.h -
    ((Math.log10(us) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * box.h;
  const rate = r.meta.rates[transport as "tcp"]?.offered[50];
  const title = `Latency at 50 % load on ${transport}${rate ? ` (${rate.toLocaleString("en-US")} calls/s offered)` : ""}, open loop, median of rounds, whiskers min–max`;
  const body = [
    text(box.x - 60, 28, title, `font-size="15" font-weight="bold"`),
    ...legend(box.x, 54, kindSeries(kinds)),
  ];
  for (let decade = low; decade <= high; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v > high) break;
      const major = m === 1;
      body.push(
        `<line x1="${box.x}" x2="${box.x + box.w}" y1="${y(v)}" y2="${y(v)}" stroke="${major ? "#d0d0d0" : "#eeeeee"}"/>`,
      );
      body.push(
        text(
          box.x - 6,
          y(v) + 4,
          duration(v),
          `text-anchor="end" fill="#555" font-size="${major ? 12 : 10}"`,
        ),
      );
    }
  }
  for (const { p } of percentiles) {
    body.push(
      `<line x1="${x(p)}" x2="${x(p)}" y1="${box.y}" y2="${box.y + box.h}" stroke="#eeeeee"/>`,
    );
    body.push(text(x(p), box.y + box.h + 18, `p${p}`, `text-anchor="middle"`));
  }
  body.push(
    text(
      box.x + box.w / 2,
      box.y + box.h + 40,
      "percentile (nines scale)",
      `text-anchor="middle" fill="#555"`,
    ),
  );
  body.push(
    `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" fill="none" stroke="#333"/>`,
  );
  kinds.forEach((k, i) => {
    const points = percentiles
      .map(({ p, key }) => ({ p, s: statAt(r.latency, transport, k, 50, key) }))
      .filter((q) => q.s);
    // Nudge each contender's whiskers sideways a little so overlapping ones stay visible.
    const dx = (i - (kinds.length - 1) / 2) * 4;
    body.push(
      `<polyline points="${points.map((q) => `${x(q.p) + dx},${y(q.s!.median)}`).join(" ")}" fill="none" stroke="${COLOR[k]}" stroke-width="2.5"/>`,
    );
    for (const q of points) {
      body.push(
        `<path d="M${x(q.p) + dx} ${y(q.s!.min)}V${y(q.s!.max)}" stroke="${COLOR[k]}" stroke-width="1.5"/>`,
      );
      body.push(`<circle cx="${x(q.p) + dx}" cy="${y(q.s!.median)}" r="4" fill="${COLOR[k]}"/>`);
    }
  });
  return svg(1000, 700, body);
}

function payloadChart(r: Results): string {
  const groups = TRANSPORTS.filter((t) => r.payloads[t]);
  const combos = KIND_ORDER.flatMap((k) =>
    (["json", "msgpack"] as const).map((codec) => ({ k, codec })),
  ).filter(({ k, codec }) =>
    groups.some((t) => statAt(r.payloads, t, k, codec, 100, 1, "mbPerSec")),
  );
  const series = combos.map(({ k, codec }) => ({
    label: `${KIND_LABEL[k]}, ${codec}`,
    color: COLOR[k],
    light: codec === "msgpack",
  }));
  const body = [
    heading("Echo throughput by payload size (MB/s one way, median of rounds, whiskers min–max)"),
  ];
  PAYLOAD_SIZES.forEach((size, i) => {
    const n = size.inFlights.at(-1)!;
    const box = { x: 70, y: 110 + i * 290, w: 900, h: 210 };
    body.push(
      ...barPanel(box, `${size.label}, ${n} in flight`, "MB/s", groups, series, (t, s) =>
        statAt(r.payloads, t, combos[s]!.k, combos[s]!.codec, size.bytes, n, "mbPerSec"),
      ),
    );
  });
  body.push(...legend(70, 52, series));
  return svg(1000, 990, body);
}

/** Writes every chart the results allow; returns the files written. */
export function writeCharts(resultsFile: string): string[] {
  const r = JSON.parse(readFileSync(resultsFile, "utf8")) as Results;
  const dir = join(dirname(resultsFile), "charts");
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [["throughput.svg", throughputChart(r)]];
  for (const t of TRANSPORTS.filter((t) => r.latency[t]))
    files.push([`latency-${t}.svg`, latencyChart(r, t)]);
  if (Object.keys(r.payloads).length) files.push(["payloads.svg", payloadChart(r)]);
  for (const [name, content] of files) writeFileSync(join(dir, name), content);
  return files.map(([name]) => join(dir, name));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file =
    process.env.BENCH_RESULTS ??
    fileURLToPath(new URL("../results/transports.json", import.meta.url));
  console.log(writeCharts(file).join("\n"));
}

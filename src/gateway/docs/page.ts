/**
 * The docs page shell and its style. Everything the page needs is served by the gateway itself
 * (no CDN, no web fonts), so the docs work offline and under a strict Content-Security-Policy:
 * the script and the style are separate files, nothing is inline.
 */

/** The HTML of the docs page; `base` is the docs path, `spec` the OpenAPI document's path. */
export function docsHtml(base: string, spec: string, title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${escapeHtml(base)}/docs.css">
</head>
<body data-openapi="${escapeHtml(spec)}">
<main id="app"><p class="muted">Loading the API description from <code>${escapeHtml(spec)}</code>…</p></main>
<script src="${escapeHtml(base)}/docs.js"></script>
</body>
</html>
`;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** The page's style sheet. */
export const DOCS_CSS = `
:root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #fff; --soft: #f6f7f9;
  --get: #1570ef; --post: #039855; --put: #dc6803; --patch: #7a5af8; --delete: #d92d20; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--soft); }
main { max-width: 980px; margin: 0 auto; padding: 24px 16px 64px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 28px 0 8px; font-size: 18px; text-transform: capitalize; }
h4 { margin: 14px 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
code, pre, textarea, input { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow: auto; margin: 6px 0; }
.muted { color: var(--muted); }
.toolbar { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; margin: 16px 0; }
.toolbar input { padding: 7px 9px; border: 1px solid var(--line); border-radius: 6px; min-width: 260px; }
details.op { background: var(--bg); border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; }
details.op > summary { cursor: pointer; list-style: none; display: flex; gap: 12px; align-items: center; padding: 10px 12px; }
details.op > summary::-webkit-details-marker { display: none; }
details.op[open] > summary { border-bottom: 1px solid var(--line); }
.body { padding: 4px 14px 14px; }
.method { display: inline-block; min-width: 64px; text-align: center; color: #fff; border-radius: 4px;
  padding: 2px 6px; font-weight: 600; font-size: 12px; }
.method.get { background: var(--get); } .method.post { background: var(--post); }
.method.put { background: var(--put); } .method.patch { background: var(--patch); }
.method.delete { background: var(--delete); }
.path { font-family: ui-monospace, Menlo, Consolas, monospace; font-weight: 600; }
.summary { color: var(--muted); flex: 1; }
.badge { font-size: 11px; border: 1px solid var(--line); border-radius: 10px; padding: 1px 7px; color: var(--muted); }
.badge.down { color: var(--delete); border-color: var(--delete); }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; border-bottom: 1px solid var(--line); padding: 6px 8px; vertical-align: top; font-size: 14px; }
th { color: var(--muted); font-weight: 500; }
ul.schema { list-style: none; margin: 4px 0; padding-left: 16px; border-left: 2px solid var(--line); }
ul.schema li { margin: 2px 0; }
.type { color: var(--post); font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.req { color: var(--delete); font-size: 12px; }
form.try { display: grid; gap: 8px; margin-top: 8px; }
form.try label { display: grid; gap: 2px; font-size: 13px; }
form.try input, form.try textarea { padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; width: 100%; }
form.try textarea { min-height: 110px; }
button { justify-self: start; background: var(--fg); color: #fff; border: 0; border-radius: 6px; padding: 7px 16px; cursor: pointer; }
.status { font-weight: 600; }
.status.ok { color: var(--post); } .status.err { color: var(--delete); }
`;

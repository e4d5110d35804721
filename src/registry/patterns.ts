/**
 * Event name patterns: `*` matches one dot-separated segment, `**` any number of them.
 * `orders.*` matches `orders.placed`; `orders.**` matches `orders.item.added` too.
 */
export function isPattern(name: string): boolean {
  return name.includes("*");
}

const cache = new Map<string, RegExp>();

/** Whether the event `name` matches `pattern` (exact names match only themselves). */
export function matchesEvent(pattern: string, name: string): boolean {
  if (!isPattern(pattern)) return pattern === name;
  let re = cache.get(pattern);
  if (re === undefined) {
    const body = pattern
      .split(/(\*\*|\*)/)
      .map((part) => (part === "**" ? ".*" : part === "*" ? "[^.]*" : escapeRegExp(part)))
      .join("");
    re = new RegExp(`^${body}$`);
    cache.set(pattern, re);
  }
  return re.test(name);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

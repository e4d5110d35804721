// Where registry discoverers keep entries: one layout for every registry center, so a node's
// entry can be found by hand (`etcdctl get --prefix /flotilla/shop/nodes/`).

/**
 * The folder (key prefix or znode path) that holds the entries of a namespace's nodes, without a
 * trailing `/`: `<prefix>/<namespace or "default">/nodes`.
 *
 * @example
 * ```ts
 * nodesPath("/flotilla", "shop"); // "/flotilla/shop/nodes"
 * ```
 */
export function nodesPath(prefix: string, namespace: string): string {
  return `${prefix}/${encodeURIComponent(namespace || "default")}/nodes`;
}

/**
 * The key (or znode path) of one node's entry; the nodeID is encoded, since it may hold `/`.
 *
 * @example
 * ```ts
 * nodeKey("/flotilla", "", "api/1"); // "/flotilla/default/nodes/api%2F1"
 * ```
 */
export function nodeKey(prefix: string, namespace: string, nodeID: string): string {
  return `${nodesPath(prefix, namespace)}/${encodeURIComponent(nodeID)}`;
}

/**
 * The nodeID a key under `folder` (from {@link nodesPath}) names, or `undefined` for a key that
 * is not a node entry (deeper, or not encoded the way {@link nodeKey} encodes).
 *
 * @example
 * ```ts
 * nodeIdOfKey("/flotilla/default/nodes", "/flotilla/default/nodes/api%2F1"); // "api/1"
 * ```
 */
export function nodeIdOfKey(folder: string, key: string): string | undefined {
  if (!key.startsWith(`${folder}/`)) return undefined;
  const name = key.slice(folder.length + 1);
  if (name === "" || name.includes("/")) return undefined;
  try {
    return decodeURIComponent(name);
  } catch {
    return undefined;
  }
}

/**
 * Checks a key prefix: starts with `/`, no trailing `/`, no empty segment. Returns the problem,
 * or `undefined` when it is fine.
 */
export function prefixProblem(prefix: string): string | undefined {
  if (!prefix.startsWith("/")) return "must start with '/'";
  if (prefix === "/") return "must name a folder, e.g. '/flotilla'";
  if (prefix.length > 1 && prefix.endsWith("/")) return "must not end with '/'";
  if (prefix.includes("//")) return "must not hold an empty segment ('//')";
  if (prefix.length > 512) return "must be at most 512 characters";
  return undefined;
}

import { type Requirement, requirementOf } from "../middleware/auth/access.js";
import type { Logger } from "../observability/logger.js";
import type { ActionInfo } from "../registry/catalog.js";
import { matchesEvent } from "../registry/patterns.js";
import type {
  AliasTarget,
  Authenticate,
  Authorize,
  GatewayOptions,
  RouteSettings,
} from "./options.js";
import { parseRoute, type RoutePattern } from "./route-pattern.js";
import { Router } from "./router.js";

/** One HTTP route of the gateway, as the dispatcher and the OpenAPI builder see it. */
export interface GatewayRoute {
  readonly pattern: RoutePattern;
  /** The action it calls. */
  readonly action: string;
  /** Declared by the action's `rest`, or by a gateway alias. */
  readonly source: "rest" | "alias";
  /** False while no node offers the action: the route answers 503 instead of vanishing. */
  readonly available: boolean;
  /** The catalog entry last seen for the action (schemas, docs); undefined if never seen. */
  readonly info: ActionInfo | undefined;
  readonly authenticate: Authenticate | undefined;
  readonly authorize: Authorize | undefined;
  /** Roles and scopes the action declares (`auth`); checked after `authenticate`. */
  readonly access: Requirement | undefined;
  /** Status of a successful answer. */
  readonly status: number;
  readonly timeout: number | undefined;
}

type Config = Pick<GatewayOptions, "aliases" | "actions" | "authenticate" | "authorize">;

interface Alias {
  pattern: RoutePattern;
  action: string;
  settings: RouteSettings;
}

/**
 * The gateway's routes, rebuilt from the cluster catalog whenever it changes. Routes seen once
 * are remembered, so a route whose service left answers 503 rather than 404; aliases exist from
 * the start. Each rebuild produces a fresh immutable {@link Router} that requests read.
 */
export class RouteTable {
  router: Router<GatewayRoute> = new Router([]);
  readonly #aliases: Alias[];
  readonly #known = new Map<string, GatewayRoute>();
  readonly #warned = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.#aliases = Object.entries(config.aliases ?? {}).map(([declaration, target]) =>
      toAlias(declaration, target, prefix),
    );
  }

  /** Every route, available or not, in a stable order (by path, then method). */
  routes(): GatewayRoute[] {
    return [...this.#known.values()].sort(
      (a, b) =>
        a.pattern.path.localeCompare(b.pattern.path) ||
        a.pattern.method.localeCompare(b.pattern.method),
    );
  }

  /** Recomputes the routes from `catalog` (the actions available in the cluster right now). */
  rebuild(catalog: readonly ActionInfo[]): void {
    const byAction = new Map(catalog.map((info) => [info.name, info]));
    const next = new Map<string, GatewayRoute>();
    for (const alias of this.#aliases) {
      const info = byAction.get(alias.action);
      const previous = this.#known.get(shapeOf(alias.pattern));
      const settings = { ...this.#settingsFor(alias.action), ...alias.settings };
      next.set(
        shapeOf(alias.pattern),
        this.#route(alias.pattern, alias.action, "alias", info, previous, settings),
      );
    }
    for (const info of catalog) {
      if (info.visibility !== "published") continue;
      for (const declaration of info.rest) {
        const pattern = parseRoute(declaration, this.prefix);
        if (typeof pattern === "string") {
          this.#warnOnce(
            `${info.name}:${declaration}`,
            `Route of '${info.name}' skipped: ${pattern}`,
          );
          continue;
        }
        const key = shapeOf(pattern);
        const taken = next.get(key);
        if (taken !== undefined) {
          if (taken.action !== info.name) {
            this.#warnOnce(
              `${info.name}:${key}`,
              `Route ${key} of '${info.name}' ignored: it is already routed to '${taken.action}'`,
            );
          }
          continue;
        }
        const settings = this.#settingsFor(info.name);
        next.set(key, this.#route(pattern, info.name, "rest", info, undefined, settings));
      }
    }
    // Routes that were served before but are gone from the catalog now: keep them, unavailable.
    for (const [key, route] of this.#known) {
      if (!next.has(key)) next.set(key, { ...route, available: false });
    }
    this.#known.clear();
    for (const [key, route] of next) this.#known.set(key, route);
    this.router = new Router(next.values());
  }

  #route(
    pattern: RoutePattern,
    action: string,
    source: GatewayRoute["source"],
    info: ActionInfo | undefined,
    previous: GatewayRoute | undefined,
    settings: RouteSettings,
  ): GatewayRoute {
    const known = info ?? previous?.info;
    return {
      pattern,
      action,
      source,
      available: info !== undefined,
      info: known,
      access: requirementOf(known?.auth),
      authenticate: pick(settings.authenticate, this.config.authenticate),
      authorize: pick(settings.authorize, this.config.authorize),
      status: settings.status ?? 200,
      timeout: settings.timeout,
    };
  }

  /** The `actions` entry for an action: its exact name first, else the first matching pattern. */
  #settingsFor(action: string): RouteSettings {
    const table = this.config.actions;
    if (table === undefined) return {};
    const exact = table[action];
    if (exact !== undefined) return exact;
    for (const [pattern, settings] of Object.entries(table)) {
      if (matchesEvent(pattern, action)) return settings;
    }
    return {};
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.logger.warn(message);
  }
}

function toAlias(declaration: string, target: AliasTarget, prefix: string): Alias {
  const pattern = parseRoute(declaration, prefix);
  if (typeof pattern === "string") throw new TypeError(`Gateway alias: ${pattern}.`);
  if (typeof target === "string") return { pattern, action: target, settings: {} };
  const { action, ...settings } = target;
  return { pattern, action, settings };
}

/** `GET /users/:id` and `GET /users/:userId` are the same route: parameters lose their names. */
function shapeOf(pattern: RoutePattern): string {
  const path = pattern.segments.map((s) => (s.startsWith(":") ? ":" : s)).join("/");
  return `${pattern.method} /${path}`;
}

/** A route setting wins over the global hook; `false` switches the hook off. */
function pick<T>(own: T | false | undefined, global: T | undefined): T | undefined {
  if (own === false) return undefined;
  return own ?? global;
}

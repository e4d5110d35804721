import { relative } from "node:path";
import type { ServiceBroker } from "../../broker/broker.js";
import { serviceFullName } from "../../service/define.js";
import type { AnyServiceDefinition } from "../../service/types.js";
import { loadServices } from "../load.js";
import { locate, syntaxLocation } from "../locate.js";
import type { Output } from "../output.js";
import type { ModuleGraph } from "./graph.js";

/**
 * Reloads the services of the files a change reaches: for each service file that changed, or
 * imports (directly or not) a file that changed, loads the new version of the module and puts
 * each service it exports in place of the running one (`broker.replaceService`: drained, stopped,
 * started again); a service the file no longer exports is destroyed, a new one is started. A
 * module that does not load keeps the running version and prints the error with its file and
 * line; the next save tries again.
 */
export class Reloader {
  /** Service file → the full names of the services it runs. */
  readonly #byFile = new Map<string, string[]>();

  constructor(
    private readonly broker: ServiceBroker,
    private readonly graph: ModuleGraph,
    private readonly out: Output,
    loaded: ReadonlyMap<string, readonly AnyServiceDefinition[]>,
  ) {
    for (const [file, defs] of loaded) this.#byFile.set(file, defs.map(fullNameOf));
  }

  /** The service files and everything they import (Flotilla's and packages' files left out). */
  files(): string[] {
    return [...new Set([...this.#byFile.keys(), ...this.graph.files()])];
  }

  /** Reloads what `changed` reaches; returns the service files reloaded. */
  async reload(changed: readonly string[]): Promise<string[]> {
    const affected = this.graph.affected(changed);
    const roots = [...this.#byFile.keys()].filter((file) => affected.has(file));
    if (roots.length === 0) return [];
    await this.graph.invalidate(affected);
    for (const root of roots) await this.#reloadFile(root, changed);
    return roots;
  }

  async #reloadFile(file: string, changed: readonly string[]): Promise<void> {
    const shown = relative(process.cwd(), file) || file;
    let defs: AnyServiceDefinition[];
    try {
      defs = await loadServices([file]);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const at = locate(e) ?? (e instanceof SyntaxError ? syntaxError(changed) : undefined);
      this.out.localError(e, `cannot reload ${shown}; the running version stays`, at);
      return;
    } finally {
      await this.graph.settle();
    }
    const before = this.#byFile.get(file) ?? [];
    const after = defs.map(fullNameOf);
    const logger = this.broker.logger;
    for (const def of defs) {
      const name = fullNameOf(def);
      try {
        await this.broker.replaceService(def);
        logger.info({ service: name, file: shown }, `Reloaded service '${name}' from ${shown}`);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        this.out.localError(e, `cannot start the new version of '${name}' from ${shown}`);
      }
    }
    for (const name of before.filter((n) => !after.includes(n))) {
      await this.broker.destroyService(name);
      logger.info({ service: name, file: shown }, `Removed service '${name}' (gone from ${shown})`);
    }
    this.#byFile.set(file, after);
  }
}

function fullNameOf(def: AnyServiceDefinition): string {
  return serviceFullName(def.name, def.version);
}

/** Node's `SyntaxError` carries no place: ask `node --check` about the changed JS files. */
function syntaxError(changed: readonly string[]): string | undefined {
  for (const file of changed) {
    if (!/\.[mc]?js$/.test(file)) continue;
    const at = syntaxLocation(file);
    if (at !== undefined) return at;
  }
  return undefined;
}

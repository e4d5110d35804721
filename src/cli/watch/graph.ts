import * as nodeModule from "node:module";
import { fileURLToPath } from "node:url";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import type { FromHooks, HookData, ToHooks } from "./hook.js";

/** Flotilla's own folders (`dist/`, `src/`): its modules are never reloaded. */
const PACKAGE = fileURLToPath(new URL("../../../", import.meta.url));
const OWN = [`${PACKAGE}dist/`, `${PACKAGE}src/`];

/**
 * The import graph of the user's modules and the generation of each, shared with the module
 * hooks (`hook.ts`) that give a changed module a fresh URL. One per process: Node's hooks
 * cannot be removed once registered.
 */
export class ModuleGraph {
  /** imported file → the files that import it */
  readonly #importers = new Map<string, Set<string>>();
  readonly #generations = new Map<string, number>();
  readonly #waiting = new Map<number, () => void>();
  #nextID = 0;

  private constructor(private readonly port: MessagePort) {
    port.on("message", (message: FromHooks) => {
      if (message.type === "import") this.#add(message.from, message.to);
      else {
        this.#waiting.get(message.id)?.();
        this.#waiting.delete(message.id);
      }
    });
    port.unref();
  }

  /**
   * Registers the hooks; call before the first service module is imported (and after
   * `enableTypeScript`, so the hooks run before the TypeScript loader's).
   */
  static open(): ModuleGraph {
    const { port1, port2 } = new MessageChannel();
    const data: HookData = { port: port2, skip: OWN };
    nodeModule.register(new URL("./hook.js", import.meta.url), {
      data,
      transferList: [port2],
    });
    return new ModuleGraph(port1);
  }

  /** Every file the graph knows, importers and imported. */
  files(): Set<string> {
    const all = new Set<string>();
    for (const [file, importers] of this.#importers) {
      all.add(file);
      for (const importer of importers) all.add(importer);
    }
    return all;
  }

  /** The changed files and every file that imports one of them, directly or not. */
  affected(changed: Iterable<string>): Set<string> {
    const found = new Set<string>();
    const visit = (file: string) => {
      if (found.has(file)) return;
      found.add(file);
      for (const importer of this.#importers.get(file) ?? []) visit(importer);
    };
    for (const file of changed) visit(file);
    return found;
  }

  /**
   * Gives each file a new generation: the next import of it (or of a module that imports it)
   * loads it afresh. Resolves once the hooks know.
   */
  invalidate(files: Iterable<string>): Promise<void> {
    const entries: [string, number][] = [];
    for (const file of files) {
      const generation = (this.#generations.get(file) ?? 0) + 1;
      this.#generations.set(file, generation);
      entries.push([file, generation]);
    }
    return this.#ask({ type: "generations", id: ++this.#nextID, entries });
  }

  /** Resolves once every import the hooks saw so far is in the graph. */
  settle(): Promise<void> {
    return this.#ask({ type: "flush", id: ++this.#nextID });
  }

  /** How many times `file` was loaded afresh. */
  generation(file: string): number {
    return this.#generations.get(file) ?? 0;
  }

  #ask(message: ToHooks): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#waiting.set(message.id, resolve);
      // Keep the process alive until the hooks answer.
      this.port.ref();
      this.port.postMessage(message);
    }).finally(() => {
      if (this.#waiting.size === 0) this.port.unref();
    });
  }

  #add(from: string, to: string): void {
    const importers = this.#importers.get(to) ?? new Set();
    importers.add(from);
    this.#importers.set(to, importers);
  }
}

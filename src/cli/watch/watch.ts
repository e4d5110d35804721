import { relative, resolve } from "node:path";
import { watch } from "chokidar";
import type { ServiceBroker } from "../../broker/broker.js";
import type { AnyServiceDefinition } from "../../service/types.js";
import { loadServices } from "../load.js";
import type { Output } from "../output.js";
import { enableTypeScript } from "../typescript.js";
import { ModuleGraph } from "./graph.js";
import { Reloader } from "./reload.js";

/** Saves closer together than this are one change (editors write a file in several steps). */
export const DEBOUNCE_MS = 100;

/** The service modules of `run --watch`, loaded through the module graph. */
export interface WatchedModules {
  graph: ModuleGraph;
  /** Each service file with the definitions it exports, in the order given. */
  loaded: Map<string, AnyServiceDefinition[]>;
}

/**
 * Registers the reload hooks, then loads the service files through them, so every module they
 * import is in the graph; or the first file that does not load, with its error.
 */
export async function loadWatched(
  files: readonly string[],
): Promise<WatchedModules | { failed: string; error: unknown }> {
  if (files.some((f) => /\.[mc]?ts$/.test(f))) await enableTypeScript();
  const graph = ModuleGraph.open();
  const loaded = new Map<string, AnyServiceDefinition[]>();
  for (const file of files) {
    try {
      loaded.set(file, await loadServices([file]));
    } catch (error) {
      return { failed: file, error };
    }
  }
  await graph.settle();
  return { graph, loaded };
}

/**
 * Watches the service files and what they import (chokidar; node_modules and Flotilla's own
 * files left out) and reloads the services a change reaches, one burst of saves at a time.
 */
export async function watchServices(
  broker: ServiceBroker,
  modules: WatchedModules,
  out: Output,
): Promise<{ close(): Promise<void> }> {
  const reloader = new Reloader(broker, modules.graph, out, modules.loaded);
  const watcher = watch(reloader.files(), {
    ignoreInitial: true,
    ignored: (path) => path.includes("/node_modules/"),
  });
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let queue = Promise.resolve();
  const flush = () => {
    const batch = [...pending];
    pending = new Set();
    queue = queue
      .then(async () => {
        const shown = batch.map((f) => relative(process.cwd(), f) || f).join(", ");
        broker.logger.info({ files: batch }, `Changed: ${shown}`);
        await reloader.reload(batch);
        // Imports the new versions added are watched from now on.
        watcher.add(reloader.files());
      })
      .catch((err: unknown) => {
        out.localError(err, "the reload failed");
      });
  };
  const changed = (path: string) => {
    pending.add(resolve(path));
    clearTimeout(timer);
    timer = setTimeout(flush, DEBOUNCE_MS);
  };
  watcher.on("change", changed);
  // Editors that save by renaming a new file over the old one show up as add (or unlink + add).
  watcher.on("add", changed);
  await new Promise<void>((ready) => watcher.once("ready", () => ready()));
  broker.logger.info(
    { files: reloader.files().length },
    `Watching ${reloader.files().length} file(s) for changes`,
  );
  return {
    close: async () => {
      clearTimeout(timer);
      await watcher.close();
      await queue;
    },
  };
}

import { existsSync, readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigInvalidError, ConfigLoadError } from "../../errors/config.js";
import { FlotillaError } from "../../errors/errors.js";
import { type Parsed, parse, type Specs, UsageError } from "../args.js";
import { locate, syntaxLocation } from "../locate.js";
import { COMMANDS, type CommandName } from "../options.js";
import { enableTypeScript } from "../typescript.js";
import type { ConfigBrokerOptions, ConfigEnv } from "./define.js";
import { findConfigFile, loadEnvFiles, projectRoot } from "./find.js";
import { CONFIG_KEYS, type ConfigKey, checkConfig, envOf, flagOf, readBy } from "./keys.js";

/** What a command runs with once the config file, `.env` files and the environment are read. */
export interface CliConfig {
  /** The command line completed: each option from its flag, else the environment, else the file. */
  parsed: Parsed;
  /** The config file read (absolute), if any. */
  file: string | undefined;
  /** The `.env` files loaded, in the order they were read. */
  envFiles: string[];
  /** `run`'s service files: the command line's, else `$FLOTILLA_SERVICES`, else `services`. */
  services: string[];
  /** The config's `broker` options (`{}` without). */
  broker: ConfigBrokerOptions;
}

/**
 * Completes a parsed command line with the project's settings. Loads `.env.<NODE_ENV>` and
 * `.env` from the project root (never overriding the environment), reads the config file
 * (`--config`, `$FLOTILLA_CONFIG`, else `flotilla.config.*` from the working directory up to the
 * project root), checks it, and fills each option the command line and the environment left
 * unset. Precedence: defaults < config file < environment < flags. Throws `ConfigInvalidError`
 * or `ConfigLoadError` naming the file (and key).
 *
 * @example
 * ```ts
 * const { parsed, services, broker } = await loadCliConfig(parsed, "run");
 * ```
 */
export async function loadCliConfig(
  parsed: Parsed,
  command: CommandName,
  cwd = process.cwd(),
): Promise<CliConfig> {
  const envFiles = loadEnvFiles(projectRoot(cwd));
  const specs: Specs = COMMANDS[command].options;
  // Read the environment again for what the command line left unset: a `.env` file may have
  // set it. A variable whose flag was given is not read (nor checked) again.
  const env = { ...process.env };
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.env !== undefined && Object.hasOwn(parsed.options, name)) delete env[spec.env];
  }
  const fromEnv = parse([], specs, { command, env }).options;
  const named = (parsed.options.config ?? fromEnv.config) as string | undefined;
  const file = named === undefined ? findConfigFile(cwd) : resolve(cwd, named);
  const shown = file === undefined ? "" : relative(cwd, file) || file;
  if (file !== undefined && named !== undefined && !existsSync(file)) {
    throw new ConfigLoadError(shown, "no such config file");
  }
  const config = file === undefined ? {} : checkConfig(await readConfig(file, shown), shown);
  const fromFile: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const flag = flagOf(key as ConfigKey);
    if (flag !== undefined && Object.hasOwn(specs, flag) && readBy(key as ConfigKey, command))
      fromFile[flag] = value;
  }
  const envServices = process.env[envOf("services")]
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  return {
    parsed: { ...parsed, options: { ...fromFile, ...fromEnv, ...parsed.options } },
    file,
    envFiles,
    services:
      parsed.positionals.length > 0
        ? parsed.positionals
        : envServices?.length
          ? envServices
          : ((config.services as string[] | undefined) ?? []),
    broker: (config.broker as ConfigBrokerOptions | undefined) ?? {},
  };
}

/**
 * {@link loadCliConfig} for the CLI's commands: a bad config is a usage error (exit status 2)
 * that names its code.
 */
export async function configure(parsed: Parsed, command: CommandName): Promise<CliConfig> {
  try {
    return await loadCliConfig(parsed, command);
  } catch (err) {
    if (err instanceof ConfigInvalidError || err instanceof ConfigLoadError)
      throw new UsageError(`${err.message} (${err.code})`, command);
    throw err;
  }
}

/** The config a file exports: its default export, called with the environment if a function. */
async function readConfig(file: string, shown: string): Promise<unknown> {
  if (file.endsWith(".json")) {
    try {
      return JSON.parse(readFileSync(file, "utf8")) as unknown;
    } catch (err) {
      throw new ConfigLoadError(shown, `is not valid JSON: ${messageOf(err)}`, { cause: err });
    }
  }
  let mod: { default?: unknown };
  try {
    if (/\.[mc]?ts$/.test(file)) await enableTypeScript();
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    if (err instanceof FlotillaError) throw err;
    const at = err instanceof Error ? where(err, file) : undefined;
    const what =
      err instanceof SyntaxError || isTransformError(err) ? "has a syntax error" : "threw";
    throw new ConfigLoadError(shown, `${what}${at ? ` at ${at}` : ""}: ${messageOf(err)}`, {
      cause: err,
    });
  }
  if (!("default" in mod)) {
    throw new ConfigInvalidError(
      shown,
      undefined,
      "has no default export (export default defineConfig({ ... }))",
    );
  }
  if (typeof mod.default !== "function") return mod.default;
  try {
    return (await (mod.default as (env: ConfigEnv) => unknown)(process.env)) as unknown;
  } catch (err) {
    const at = err instanceof Error ? locate(err) : undefined;
    throw new ConfigLoadError(shown, `threw${at ? ` at ${at}` : ""}: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

function where(err: Error, file: string): string | undefined {
  return locate(err) ?? (err instanceof SyntaxError ? syntaxLocation(file) : undefined);
}

function isTransformError(err: unknown): boolean {
  return err instanceof Error && err.name === "TransformError";
}

function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n").find((l) => l.trim() !== "" && !l.startsWith("Transform failed")) ?? text;
}

/** Every config key the docs must list (docs/config.md). */
export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

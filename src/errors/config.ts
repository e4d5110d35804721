import { FlotillaError, type FlotillaErrorOptions } from "./errors.js";

/**
 * A config file (`flotilla.config.ts`, `.mts`, `.js`, `.mjs`, `.json`) holds something wrong:
 * an unknown key (with the closest known one), a value of the wrong type, or an export that is
 * not a config object. `data` names the file and the key. The CLI exits with status 2.
 *
 * @example
 * ```ts
 * new ConfigInvalidError("flotilla.config.ts", "transporer", "is not a key (did you mean transporter?)");
 * ```
 */
export class ConfigInvalidError extends FlotillaError {
  constructor(
    file: string,
    key: string | undefined,
    problem: string,
    options: FlotillaErrorOptions = {},
  ) {
    super(`${file}: ${key === undefined ? "" : `'${key}' `}${problem}`, "CONFIG_INVALID", 400, {
      ...options,
      data: options.data ?? { file, key, problem },
    });
  }
}

/**
 * A config file cannot be loaded: it does not exist (`--config`, `$FLOTILLA_CONFIG`), it has a
 * syntax error, or it throws while it runs. `data.file` names it; `cause` is the error. The CLI
 * exits with status 2.
 *
 * @example
 * ```ts
 * new ConfigLoadError("flotilla.config.ts", "it threw: no secret", { cause: err });
 * ```
 */
export class ConfigLoadError extends FlotillaError {
  constructor(file: string, problem: string, options: FlotillaErrorOptions = {}) {
    super(`${file}: ${problem}`, "CONFIG_LOAD_FAILED", 400, {
      ...options,
      data: options.data ?? { file },
    });
  }
}

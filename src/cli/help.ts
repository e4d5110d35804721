import { COMMANDS, type CommandName } from "./options.js";

/** The global help: every command with its summary. */
export function globalHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`);
  return `Usage: flotilla <command> [options]

Commands:
${lines.join("\n")}

Options:
  -h, --help     help of a command: flotilla <command> --help
  -v, --version  print the version

Options come from flags, then FLOTILLA_* environment variables (and .env files), then
flotilla.config.ts (docs/config.md), then defaults.
Tracing: OTEL_TRACES_EXPORTER=otlp|zipkin|console sends OpenTelemetry spans to
$OTEL_EXPORTER_OTLP_ENDPOINT or $OTEL_EXPORTER_ZIPKIN_ENDPOINT (docs/observability.md).
Exit status: 0 done, 1 failed (call error, local problem, breaking contract change), 2 bad usage.
Docs: docs/cli.md
`;
}

/** One command's help: usage, details, and each option with its environment variable. */
export function commandHelp(name: CommandName): string {
  const c = COMMANDS[name];
  const rows = Object.entries(c.options).map(([flag, spec]) => {
    const short = "short" in spec && spec.short ? `-${spec.short}, ` : "    ";
    const value = "value" in spec && spec.value ? ` ${spec.value}` : "";
    const env = "env" in spec && spec.env ? `$${spec.env}` : "";
    return [`  ${short}--${flag}${value}`, spec.help, env] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  // The environment variable on the same line when it fits in 100 columns, else on the next.
  const line = ([left, help, env]: readonly [string, string, string]) => {
    const first = `${left.padEnd(width)}${help}`;
    if (env === "") return first;
    return first.length + env.length + 3 <= 100
      ? `${first} [${env}]`
      : `${first}\n${" ".repeat(width)}[${env}]`;
  };
  const details = "details" in c && c.details ? `\n${c.details}\n` : "";
  return `Usage: ${c.usage}

${capitalize(c.summary)}.
${details}
Options:
${rows.map(line).join("\n")}
`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

import { trace } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-node";
import { afterAll, afterEach, beforeAll } from "vitest";

/**
 * An OpenTelemetry SDK registered the way an application does it, exporting to memory, for the
 * tests of one file: registered before them, reset after each, removed after the file.
 */
export function memorySdk(): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeAll(() => provider.register());
  afterEach(() => exporter.reset());
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
  });
  return exporter;
}

/** The one span named `name` (and of `kind`, when given); fails listing the spans there are. */
export function spanNamed(
  spans: readonly ReadableSpan[],
  name: string,
  kind?: number,
): ReadableSpan {
  const found = spans.filter((s) => s.name === name && (kind === undefined || s.kind === kind));
  if (found.length !== 1) {
    throw new Error(
      `expected one span '${name}', found ${found.length} among: ${spans.map((s) => s.name).join(", ")}`,
    );
  }
  return found[0]!;
}

/** The span ID of a span's parent (`undefined` for a root). */
export const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

/** A span's own ID. */
export const idOf = (s: ReadableSpan): string => s.spanContext().spanId;

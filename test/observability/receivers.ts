import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";

// Collectors for the export tests: an OTLP/HTTP JSON receiver (`POST /v1/traces`) and a Zipkin
// v2 JSON receiver (`POST /api/v2/spans`), each a node:http server on a free port of 127.0.0.1
// that decodes what it is sent into one flat list of spans.

/** One exported span, whichever protocol brought it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Absent on a root span. */
  parentSpanId: string | undefined;
  name: string;
  kind: "INTERNAL" | "SERVER" | "CLIENT" | "PRODUCER" | "CONSUMER";
  /** `service.name` of the resource that exported it. */
  serviceName: string;
  /** Attributes as strings (Zipkin sends tags as strings; OTLP values are turned into strings). */
  attributes: Record<string, string>;
  status: "UNSET" | "OK" | "ERROR";
  /** The status message of a failed span. */
  error: string | undefined;
}

/** A running receiver: its URL and the spans received so far. */
export interface Receiver {
  /** For OTLP, the base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); for Zipkin, the spans URL. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** POST requests received, decoded or not. */
  readonly requests: number;
  close(): Promise<void>;
}

const OTLP_KINDS = ["INTERNAL", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"] as const;
const STATUS = ["UNSET", "OK", "ERROR"] as const;

type OtlpValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
};
type OtlpAttribute = { key: string; value: OtlpValue };
interface OtlpRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        attributes?: OtlpAttribute[];
        status?: { code?: number; message?: string };
      }[];
    }[];
  }[];
}

function textOf(v: OtlpValue): string {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(textOf).join(",");
  return "";
}

function attributesOf(list: OtlpAttribute[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, textOf(a.value)]));
}

/** The spans of one OTLP/HTTP JSON export request. */
export function decodeOtlp(body: OtlpRequest): ReceivedSpan[] {
  return (body.resourceSpans ?? []).flatMap((rs) => {
    const serviceName = attributesOf(rs.resource?.attributes)["service.name"] ?? "";
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((s) => ({
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId || undefined,
        name: s.name,
        kind: OTLP_KINDS[s.kind ?? 1] ?? "INTERNAL",
        serviceName,
        attributes: attributesOf(s.attributes),
        status: STATUS[s.status?.code ?? 0] ?? "UNSET",
        error: s.status?.message || undefined,
      })),
    );
  });
}

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind?: "SERVER" | "CLIENT" | "PRODUCER" | "CONSUMER";
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

/** The spans of one Zipkin v2 JSON request. */
export function decodeZipkin(body: ZipkinSpan[]): ReceivedSpan[] {
  return body.map((s) => {
    const tags = s.tags ?? {};
    const status = tags["otel.status_code"];
    return {
      traceId: s.traceId,
      spanId: s.id,
      parentSpanId: s.parentId || undefined,
      name: s.name,
      kind: s.kind ?? "INTERNAL",
      serviceName: s.localEndpoint?.serviceName ?? "",
      attributes: tags,
      status: status === "ERROR" || status === "OK" ? status : "UNSET",
      error: tags.error,
    };
  });
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const text = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
  return JSON.parse(text.toString("utf8"));
}

async function listen(
  path: string,
  decode: (body: never) => ReceivedSpan[],
  urlOf: (origin: string) => string,
): Promise<Receiver> {
  const spans: ReceivedSpan[] = [];
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    if (req.method !== "POST" || req.url !== path) {
      res.writeHead(404).end();
      return;
    }
    bodyOf(req).then(
      (body) => {
        spans.push(...decode(body as never));
        // OTLP/HTTP JSON: an empty ExportTraceServiceResponse; Zipkin: 202 Accepted.
        res.writeHead(path === "/v1/traces" ? 200 : 202, { "content-type": "application/json" });
        res.end(path === "/v1/traces" ? "{}" : "");
      },
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: urlOf(`http://127.0.0.1:${port}`),
    spans,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * An OTLP/HTTP JSON collector on a free port; `url` is the base URL to give as
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (spans are posted to `url + "/v1/traces"`).
 *
 * @example
 * ```ts
 * const otlp = await otlpReceiver();
 * spawn(node, [script], { env: { OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url } });
 * await until(() => otlp.spans.length >= 6);
 * ```
 */
export function otlpReceiver(): Promise<Receiver> {
  return listen("/v1/traces", decodeOtlp, (origin) => origin);
}

/**
 * A Zipkin v2 JSON collector on a free port; `url` is the spans URL to give as
 * `OTEL_EXPORTER_ZIPKIN_ENDPOINT`.
 *
 * @example
 * ```ts
 * const zipkin = await zipkinReceiver();
 * ```
 */
export function zipkinReceiver(): Promise<Receiver> {
  return listen("/api/v2/spans", decodeZipkin, (origin) => `${origin}/api/v2/spans`);
}

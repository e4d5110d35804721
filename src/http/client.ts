import { SpanStatusCode } from "@opentelemetry/api";
import { Agent, type Dispatcher, request } from "undici";
import {
  injectHeaders,
  parentSpanContext,
  recordError,
  SpanKind,
  startSpan,
  tracingActive,
} from "../observability/tracing/trace.js";
import { HttpError, isConnectFailure, networkCode, timedOut, unavailable } from "./errors.js";
import { backoff, IDEMPOTENT, RETRY_STATUSES, retryAfter, sleep } from "./retry.js";

/** What the client reads from a Flotilla `Context` (or anything shaped like one). */
export interface CallerContext {
  readonly requestID?: string;
  readonly headers?: Record<string, string> | undefined;
  /** Milliseconds left before the caller's deadline (`Infinity` without one). */
  readonly remaining?: number;
}

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  /** Base of relative paths, e.g. `https://api.stripe.com/v1`. Absolute URLs ignore it. */
  baseUrl?: string;
  /** Total time budget of one request, retries included, in ms. Default 10 000. */
  timeout?: number;
  /** Time budget of opening one connection, in ms. Default 5 000. */
  connectTimeout?: number;
  /** Extra attempts after a retryable failure. Default 2. */
  retries?: number;
  /** First backoff delay in ms; doubles per attempt, with full jitter. Default 100. */
  retryDelay?: number;
  /** Longest backoff delay in ms. Default 2 000. */
  maxRetryDelay?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Most open connections per origin. Default 64. */
  connections?: number;
  /** How long an idle kept-alive connection stays open, in ms. Default 4 000. */
  keepAliveTimeout?: number;
}

/** Options of one request. */
export interface HttpRequestOptions {
  /** Query parameters; arrays repeat the key, `undefined` values are left out. */
  query?: Record<string, string | number | boolean | undefined | (string | number | boolean)[]>;
  headers?: Record<string, string>;
  /** A JSON body (sets `content-type: application/json`). */
  json?: unknown;
  /** A raw body, when not JSON. */
  body?: string | Uint8Array;
  /** Overrides the client's time budget for this request. */
  timeout?: number;
  /** Overrides the client's retries for this request. */
  retries?: number;
  /** Treat the request as safe to repeat (e.g. a POST with an idempotency key). */
  idempotent?: boolean;
  /** The calling context: adds `x-request-id` and `traceparent`, and caps the time budget. */
  ctx?: CallerContext;
  /** Cancels the request; it then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** How to read the body. Default `auto`: JSON when the content type says so, else text. */
  responseType?: "auto" | "json" | "text" | "buffer";
}

/** A response of {@link HttpClient.request}. */
export interface HttpResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  data: T;
}

/** A client for one outside service (or several origins), on one keep-alive connection pool. */
export interface HttpClient {
  /** Any method; resolves with status, headers and body, rejects with a FlotillaError. */
  request<T = unknown>(
    method: string,
    path: string,
    options?: HttpRequestOptions,
  ): Promise<HttpResponse<T>>;
  get<T = unknown>(path: string, options?: HttpRequestOptions): Promise<T>;
  post<T = unknown>(path: string, json?: unknown, options?: HttpRequestOptions): Promise<T>;
  put<T = unknown>(path: string, json?: unknown, options?: HttpRequestOptions): Promise<T>;
  patch<T = unknown>(path: string, json?: unknown, options?: HttpRequestOptions): Promise<T>;
  delete<T = unknown>(path: string, options?: HttpRequestOptions): Promise<T>;
  /** Closes the pooled connections (waits for requests in flight). */
  close(): Promise<void>;
}

/**
 * An HTTP client for services outside Flotilla, on `undici`: a keep-alive pool per origin, one
 * time budget per request across retries (capped by the caller's deadline), retries with
 * backoff for idempotent methods on network failures and 502/503/504, the request ID and trace
 * headers of the calling context, and FlotillaErrors for every failure: `RequestTimeoutError`,
 * `ServiceNotAvailableError` when the server cannot be reached, `HttpError` (`HTTP_<status>`) for
 * 4xx/5xx answers.
 *
 * @example
 * ```ts
 * const github = createHttpClient({ baseUrl: "https://api.github.com", timeout: 3000 });
 * const repo = await github.get<{ stargazers_count: number }>("/repos/nodejs/node", { ctx });
 * await github.close();
 * ```
 */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const agent = new Agent({
    connect: { timeout: options.connectTimeout ?? 5_000 },
    connections: options.connections ?? 64,
    keepAliveTimeout: options.keepAliveTimeout ?? 4_000,
  });
  const settings = {
    timeout: options.timeout ?? 10_000,
    retries: options.retries ?? 2,
    retryDelay: options.retryDelay ?? 100,
    maxRetryDelay: options.maxRetryDelay ?? 2_000,
  };
  const base = options.baseUrl;
  const defaults = { accept: "application/json", ...lowerKeys(options.headers) };

  async function send<T>(
    method: string,
    path: string,
    opts: HttpRequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const verb = method.toUpperCase();
    const url = urlOf(base, path, opts.query);
    const headers: Record<string, string> = { ...defaults, ...lowerKeys(opts.headers) };
    const ctx = opts.ctx;
    if (ctx?.requestID !== undefined) headers["x-request-id"] ??= ctx.requestID;
    if (ctx?.headers?.traceparent !== undefined) headers.traceparent ??= ctx.headers.traceparent;
    if (ctx?.headers?.tracestate !== undefined) headers.tracestate ??= ctx.headers.tracestate;
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["content-type"] ??= "application/json";
    }
    const budget = Math.min(
      opts.timeout ?? settings.timeout,
      ctx?.remaining ?? Number.POSITIVE_INFINITY,
    );
    const deadline = Date.now() + budget;
    const retries = opts.retries ?? settings.retries;
    const idempotent = opts.idempotent ?? IDEMPOTENT.has(verb);
    for (let attempt = 0; ; attempt++) {
      const left = deadline - Date.now();
      if (left <= 0) throw timedOut(verb, url, budget);
      let failure: Error;
      let wait = backoff(attempt, settings.retryDelay, settings.maxRetryDelay);
      try {
        const response = await (tracingActive()
          ? tracedAttempt<T>(
              { agent, method: verb, url, headers, body, timeout: left, opts },
              attempt,
            )
          : attemptOnce<T>(agent, verb, url, headers, body, left, opts));
        if (response.status < 400) return response;
        failure = new HttpError(verb, url, response.status, response.data, response.headers);
        if (!(idempotent && RETRY_STATUSES.has(response.status))) throw failure;
        wait = retryAfter(response.headers["retry-after"]) ?? wait;
      } catch (err) {
        if (err instanceof HttpError) throw err;
        if (opts.signal?.aborted) throw opts.signal.reason;
        if (err instanceof AttemptTimeout) throw timedOut(verb, url, budget);
        const code = networkCode(err);
        if (code === undefined) throw err;
        failure = unavailable(verb, code, err);
        if (!(idempotent || isConnectFailure(code))) throw failure;
      }
      if (attempt >= retries || Date.now() + wait >= deadline) throw failure;
      await sleep(wait, opts.signal);
    }
  }

  return {
    request: send,
    get: <T>(path: string, opts?: HttpRequestOptions) => send<T>("GET", path, opts).then(dataOf),
    post: <T>(path: string, json?: unknown, opts?: HttpRequestOptions) =>
      send<T>("POST", path, { ...opts, json }).then(dataOf),
    put: <T>(path: string, json?: unknown, opts?: HttpRequestOptions) =>
      send<T>("PUT", path, { ...opts, json }).then(dataOf),
    patch: <T>(path: string, json?: unknown, opts?: HttpRequestOptions) =>
      send<T>("PATCH", path, { ...opts, json }).then(dataOf),
    delete: <T>(path: string, opts?: HttpRequestOptions) =>
      send<T>("DELETE", path, opts).then(dataOf),
    close: () => agent.close(),
  };
}

/**
 * One attempt in an HTTP client span (OpenTelemetry HTTP conventions), its trace context sent in
 * `traceparent`: a child of the calling context's span, else of the current one.
 */
async function tracedAttempt<T>(
  a: {
    agent: Dispatcher;
    method: string;
    url: string;
    headers: Record<string, string>;
    body: string | Uint8Array | undefined;
    timeout: number;
    opts: HttpRequestOptions;
  },
  resends: number,
): Promise<HttpResponse<T>> {
  const target = new URL(a.url);
  const { span, ctx } = startSpan(a.method, SpanKind.CLIENT, parentSpanContext(a.opts.ctx), {
    "http.request.method": a.method,
    // No credentials and no query string: either may carry secrets.
    "url.full": `${target.protocol}//${target.host}${target.pathname}`,
    "server.address": target.hostname,
    "server.port": Number(target.port || (target.protocol === "https:" ? 443 : 80)),
  });
  if (resends > 0) span.setAttribute("http.request.resend_count", resends);
  const headers = injectHeaders(ctx, a.headers);
  try {
    const response = await attemptOnce<T>(
      a.agent,
      a.method,
      a.url,
      headers,
      a.body,
      a.timeout,
      a.opts,
    );
    span.setAttribute("http.response.status_code", response.status);
    if (response.status >= 400) {
      span.setAttribute("error.type", String(response.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    return response;
  } catch (err) {
    recordError(span, err instanceof AttemptTimeout ? new Error("attempt timed out") : err);
    throw err;
  } finally {
    span.end();
  }
}

/** Our own deadline fired (as opposed to the caller's signal). */
class AttemptTimeout extends Error {}

async function attemptOnce<T>(
  agent: Dispatcher,
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | Uint8Array | undefined,
  timeout: number,
  opts: HttpRequestOptions,
): Promise<HttpResponse<T>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new AttemptTimeout()), timeout);
  const onAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const res = await request(url, {
      dispatcher: agent,
      method: method as Dispatcher.HttpMethod,
      headers,
      body,
      signal: controller.signal,
    });
    const data = await readBody(res, method, opts.responseType ?? "auto");
    return { status: res.statusCode, headers: res.headers, data: data as T };
  } catch (err) {
    if (controller.signal.reason instanceof AttemptTimeout && !opts.signal?.aborted) {
      throw controller.signal.reason;
    }
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

async function readBody(
  res: Dispatcher.ResponseData,
  method: string,
  type: string,
): Promise<unknown> {
  if (type === "buffer") return Buffer.from(await res.body.arrayBuffer());
  const text = await res.body.text();
  if (method === "HEAD" || res.statusCode === 204 || text === "") return undefined;
  const contentType = String(res.headers["content-type"] ?? "");
  if (type === "json" || (type === "auto" && /[/+]json\b/i.test(contentType))) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function urlOf(base: string | undefined, path: string, query: HttpRequestOptions["query"]): string {
  const url =
    /^https?:\/\//i.test(path) || base === undefined
      ? new URL(path)
      : new URL(`${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value])
      url.searchParams.append(key, String(item));
  }
  return url.toString();
}

function lowerKeys(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers ?? {})) out[key.toLowerCase()] = value;
  return out;
}

function dataOf<T>(response: HttpResponse<T>): T {
  return response.data;
}

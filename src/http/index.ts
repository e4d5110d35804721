// The HTTP client for services outside Flotilla. Everything a user imports from it is listed here.
export {
  type CallerContext,
  createHttpClient,
  type HttpClient,
  type HttpClientOptions,
  type HttpRequestOptions,
  type HttpResponse,
} from "./client.js";
export { HttpError } from "./errors.js";

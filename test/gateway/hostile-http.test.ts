import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { startGateway } from "../../src/gateway/index.js";
import { onCleanup, setup } from "./fixtures.js";

const PROBLEM = "application/problem+json; charset=utf-8";
const nested = (depth: number) =>
  `{"name":"a","email":"a@b.co","tags":${"[".repeat(depth)}${"]".repeat(depth)}}`;

describe("the gateway refuses hostile HTTP with problem answers", () => {
  it.each(["/users?a=%", "/users?%=1", "/users?a=%E0%A4%A", "/users?q=ok&b=%zz"])(
    "answers 400 BAD_REQUEST for a query that is not valid percent-encoding: %s",
    async (url) => {
      const { gateway } = await setup();
      const res = await gateway.app.inject({ url });
      expect(res.statusCode).toBe(400);
      expect(res.headers["content-type"]).toBe(PROBLEM);
      expect(res.json()).toMatchObject({ status: 400, code: "BAD_REQUEST" });
    },
  );

  it("still decodes a valid query, escapes and plus signs included", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({ url: "/users?q=caf%C3%A9+au+lait&limit=5" });
    expect(res.json()).toEqual({ limit: 5, q: "café au lait" });
  });

  it.each([
    ["text/plain", 415],
    ["text/json", 415],
    ["application/json; charset=latin1", 415],
    ["application/json", 200],
    ["application/json; charset=utf-8", 200],
    ["Application/JSON;charset=UTF-8", 200],
    ["application/vnd.api+json", 200],
  ])("a JSON route given a body of type %s answers %i", async (type, status) => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({
      method: "POST",
      url: "/users",
      headers: { "content-type": type },
      payload: '{"name":"Ada","email":"ada@example.com"}',
    });
    expect(res.statusCode).toBe(status);
    if (status !== 200) {
      expect(res.headers["content-type"]).toBe(PROBLEM);
      expect(res.json()).toMatchObject({ status, code: "UNSUPPORTED_MEDIA_TYPE" });
    }
  });

  it("answers 415 for a body without a content type", async () => {
    const { gateway } = await setup();
    const res = await gateway.app.inject({
      method: "POST",
      url: "/users",
      payload: Buffer.from('{"name":"Ada","email":"ada@example.com"}'),
      headers: { "content-type": "" },
    });
    expect(res.statusCode).toBe(415);
  });

  it("refuses a JSON body nested deeper than maxBodyDepth with 422 PAYLOAD_TOO_DEEP", async () => {
    const { gateway } = await setup();
    const deep = await gateway.app.inject({
      method: "POST",
      url: "/users",
      headers: { "content-type": "application/json" },
      payload: nested(6_000),
    });
    expect(deep.statusCode).toBe(422);
    expect(deep.headers["content-type"]).toBe(PROBLEM);
    expect(deep.json()).toMatchObject({ code: "PAYLOAD_TOO_DEEP", data: { maxDepth: 512 } });

    const { gateway: strict } = await setup({ maxBodyDepth: 3 });
    const post = (payload: string) =>
      strict.app.inject({
        method: "POST",
        url: "/echo/1",
        headers: { "content-type": "application/json" },
        payload,
      });
    expect((await post(`{"a":{"b":[1]},"pad":"${" ".repeat(20)}"}`)).statusCode).toBe(200);
    expect((await post(`{"a":{"b":[[1]]},"pad":"${" ".repeat(20)}"}`)).statusCode).toBe(422);
  });
});

/** Sends raw bytes to the gateway and reads the whole answer (the gateway closes after it). */
async function raw(
  address: string,
  bytes: string,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const url = new URL(address);
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.write(bytes);
  await new Promise<void>((resolve, reject) => {
    socket.on("close", () => resolve());
    socket.on("error", reject);
  });
  const text = Buffer.concat(chunks).toString("utf8");
  const [head = "", body = ""] = text.split("\r\n\r\n");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body };
}

describe("requests Node's HTTP parser refuses, over a real socket", () => {
  it.each([
    [
      "a URL longer than the header limit",
      `GET /users?q=${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      431,
      "HEADERS_TOO_LARGE",
    ],
    [
      "a header line without a colon",
      "GET /users HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
      400,
      "BAD_REQUEST",
    ],
    [
      "Content-Length and Transfer-Encoding together",
      "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
      "BAD_REQUEST",
    ],
    ["an unknown method", "FROB /users HTTP/1.1\r\nHost: x\r\n\r\n", 400, "BAD_REQUEST"],
  ])("answers %s with a %i problem and closes", async (_what, request, status, code) => {
    const { broker } = await setup();
    const gateway = await startGateway(broker, { port: 0 });
    onCleanup(() => gateway.close());
    const res = await raw(gateway.address!, request);
    expect(res.status).toBe(status);
    expect(res.headers["content-type"]).toBe(PROBLEM);
    expect(res.headers.connection).toBe("close");
    const problem = JSON.parse(res.body);
    expect(problem).toMatchObject({ status, code });
    expect(res.headers["x-request-id"]).toBe(problem.requestId);
    expect(Number(res.headers["content-length"])).toBe(Buffer.byteLength(res.body));
  });
});

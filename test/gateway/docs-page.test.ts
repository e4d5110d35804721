import { runInNewContext } from "node:vm";
import { defineService } from "flotilla";
import { describe, expect, it } from "vitest";
import { setup, users } from "./fixtures.js";

interface FakeElement {
  innerHTML: string;
  listeners: string[];
  addEventListener(type: string): void;
}

/** Runs the docs script against a minimal DOM and the given `fetch`; resolves with the page HTML. */
async function renderDocs(script: string, fetchSpec: () => Promise<unknown>): Promise<string> {
  const app: FakeElement = {
    innerHTML: "",
    listeners: [],
    addEventListener(type) {
      this.listeners.push(type);
    },
  };
  let rendered: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    rendered = resolve;
  });
  const document = {
    getElementById: (id: string) => (id === "app" ? app : null),
    body: { getAttribute: () => "/openapi.json" },
  };
  const fetch = () =>
    fetchSpec().then((spec) => ({
      json: () => {
        // The page renders synchronously right after the document is parsed.
        setImmediate(rendered);
        return spec;
      },
    }));
  runInNewContext(script, { document, fetch, JSON, Object, Array, String, encodeURIComponent });
  await done;
  expect(app.listeners).toEqual(["submit", "input"]);
  return app.innerHTML;
}

describe("docs page", () => {
  it("is served from the gateway itself, with no third-party resources", async () => {
    const { gateway } = await setup();
    const page = await gateway.app.inject({ url: "/docs" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toContain('data-openapi="/openapi.json"');
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs).toEqual(["/docs/docs.css", "/docs/docs.js"]);
    for (const ref of refs) {
      const asset = await gateway.app.inject({ url: ref as string });
      expect(asset.statusCode).toBe(200);
      expect(asset.body).not.toMatch(/https?:\/\//);
    }
  });

  it("renders every operation grouped by tag, with parameters and a try-it form", async () => {
    const { gateway } = await setup();
    const script = (await gateway.app.inject({ url: "/docs/docs.js" })).body;
    const html = await renderDocs(script, async () => gateway.openapi());
    expect(html).toContain("<h2>users</h2>");
    expect(html).toContain('<span class="path">/users/{id}</span>');
    expect(html.match(/<details class="op"/g)).toHaveLength(7);
    expect(html).toContain("<code>limit</code>");
    expect(html).toContain('<form class="try" data-path="/users" data-method="post">');
    expect(html).toContain("&quot;email&quot;: &quot;user@example.com&quot;");
  });

  it("escapes text from the document", async () => {
    const evil = defineService({
      name: "evil",
      actions: {
        x: {
          rest: "GET /x",
          visibility: "published",
          summary: "<img src=x onerror=alert(1)>",
          handler: () => 1,
        },
      },
    });
    const { gateway } = await setup({}, [users, evil]);
    const script = (await gateway.app.inject({ url: "/docs/docs.js" })).body;
    const html = await renderDocs(script, async () => gateway.openapi());
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  it("moves under docsPath", async () => {
    const { gateway } = await setup({ openapi: { docsPath: "/api-docs", path: "/spec.json" } });
    const page = await gateway.app.inject({ url: "/api-docs" });
    expect(page.body).toContain('data-openapi="/spec.json"');
    expect((await gateway.app.inject({ url: "/api-docs/docs.js" })).statusCode).toBe(200);
    expect((await gateway.app.inject({ url: "/spec.json" })).statusCode).toBe(200);
  });
});

import { existsSync, mkdirSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { users } from "../gateway/fixtures.js";
import { startBroker } from "../helpers.js";

// The /docs page in a real headless Chromium (Debian's, installed by .ci/run): it renders the
// OpenAPI document from local files only, and its "try it" form calls the API.
const executablePath = "/usr/bin/chromium";
const available = existsSync(executablePath);
if (!available && process.env.CI === "true")
  throw new Error(`${executablePath} is missing: .ci/run installs it`);

let browser: Browser | undefined;
let gateway: Gateway | undefined;

beforeAll(async () => {
  if (!available) return;
  browser = await chromium.launch({
    executablePath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
});

describe.skipIf(!available)(
  "the /docs page in a browser (skipped here: no /usr/bin/chromium)",
  () => {
    it("renders every route from local files, and its form calls the API", async () => {
      const broker = await startBroker(users);
      gateway = await createGateway(broker, {
        port: 0,
        host: "127.0.0.1",
        openapi: { title: "Users", version: "1.0.0" },
      });
      await gateway.listen();
      const base = gateway.address;
      if (base === undefined) throw new Error("the gateway is not listening");
      const page = await browser!.newPage();
      const outside: string[] = [];
      page.on("request", (req) => {
        if (!req.url().startsWith(base)) outside.push(req.url());
      });
      await page.goto(`${base}/docs`);
      await page.waitForSelector("details.op");
      const text = await page.textContent("body");
      expect(text).toContain("Users");
      expect(text).toContain("/users/{id}");
      expect(await page.locator("details.op").count()).toBeGreaterThanOrEqual(6);
      expect(outside).toEqual([]); // no CDN, nothing from the network

      const op = page.locator("details.op", { hasText: "One user" }).first();
      await op.locator("summary").click();
      await op.locator("form.try input").first().fill("42");
      await op.locator("form.try button").click();
      await expect.poll(() => op.locator(".result").textContent()).toContain('"id": 42');
      mkdirSync("test/e2e/screens", { recursive: true });
      await page.screenshot({ path: "test/e2e/screens/docs.png", fullPage: true });
    });
  },
);

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { runResilienceScenarios } from "./suite.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-resilience-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runResilienceScenarios({
  name: "tcp://",
  transporter: () => `tcp://?dir=${encodeURIComponent(dir)}`,
  noticeWithin: 500,
});

import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/index.js";

// `flotilla migrate` as the command's own function runs it, in this process: the spawned
// command is tested in migrate.test.ts; here the same paths run where coverage sees them.
const fixtures = new URL("./fixtures/migrate/", import.meta.url);
const work = mkdtempSync(join(tmpdir(), "flotilla-migrate-in-"));
cpSync(fixtures, work, { recursive: true });
const users = join(work, "services", "users.js");
const broken = join(work, "broken", "broken.ts");

let stdout = "";
let stderr = "";
const saved = process.env.FLOTILLA_DATA_DIR;

beforeEach(() => {
  stdout = "";
  stderr = "";
  process.env.FLOTILLA_DATA_DIR = join(work, "data");
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  if (saved === undefined) delete process.env.FLOTILLA_DATA_DIR;
  else process.env.FLOTILLA_DATA_DIR = saved;
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("flotilla migrate, in process", () => {
  it("shows pending migrations, runs them once, undoes the last, and writes a new one", async () => {
    expect(await main(["migrate", "status", users, "--json"])).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      expect.objectContaining({
        service: "users",
        migrations: [{ name: "0001_create_users", executedAt: null }],
      }),
    ]);

    stdout = "";
    expect(await main(["migrate", "up", users])).toBe(0);
    expect(stdout).toContain("0001_create_users");

    stdout = "";
    expect(await main(["migrate", "up", users, "--json"])).toBe(0);
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ service: "users", ran: [] })]);

    stdout = "";
    expect(await main(["migrate", "down", users])).toBe(0);
    expect(stdout).toContain("0001_create_users");

    expect(await main(["migrate", "new", "add_email", users])).toBe(0);
    expect(
      readdirSync(join(work, "migrations", "users")).some((f) => f.endsWith("_add_email.js")),
    ).toBe(true);
  });

  it("fails with MIGRATION_FAILED and the migration's name", async () => {
    expect(await main(["migrate", "up", broken])).toBe(1);
    expect(stderr).toContain("MIGRATION_FAILED");
  });

  it("answers bad usage with 2", async () => {
    expect(await main(["migrate", "sideways", users])).toBe(2);
    expect(await main(["migrate", "up"])).toBe(2);
  });
});

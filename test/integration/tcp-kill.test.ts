import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ServiceBroker, ServiceNotAvailableError } from "flotilla";
import { afterAll, expect, it } from "vitest";

// A service process killed with SIGKILL in the middle of a call: the caller must learn at once
// (the tcp transporter sees the connection drop), not after its 30 s timeout.
const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "flotilla-kill-"));
const namespace = `kill-${process.pid}`;
const service = join(root, "test/integration/fixtures/slow.ts");
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

it("fails pending calls to a killed process fast, with a retryable error", async () => {
  child = spawn(
    process.execPath,
    [join(root, "bin/flotilla.js"), "run", service, "--node-id", "victim"],
    {
      env: {
        ...process.env,
        FLOTILLA_TCP_DIR: dir,
        FLOTILLA_NAMESPACE: namespace,
        FLOTILLA_TRANSPORTER: "tcp://?udp=false",
      },
      cwd: root,
    },
  );
  const busy = new Promise<void>((resolve) =>
    child?.stdout?.on("data", (d: Buffer) => d.includes("busy") && resolve()),
  );
  const client = new ServiceBroker({
    nodeID: "killer",
    namespace,
    logger: false,
    transporter: `tcp://?udp=false&dir=${encodeURIComponent(dir)}`,
    heartbeatTimeout: 30_000, // so only the dropped connection can explain a fast failure
  });
  await client.start();
  try {
    await client.waitForServices("slow", 20_000);
    const pending = client.call("slow.wait", {}, { timeout: 30_000 }).catch((e: unknown) => e);
    await busy;
    const killedAt = Date.now();
    child.kill("SIGKILL");
    const err = await pending;
    expect(err).toBeInstanceOf(ServiceNotAvailableError);
    expect(err).toMatchObject({ retryable: true, data: { reason: "node lost" } });
    expect(Date.now() - killedAt).toBeLessThan(2_000);
    expect(client.registry.isAvailable("slow")).toBe(false);
  } finally {
    await client.stop();
  }
}, 40_000);

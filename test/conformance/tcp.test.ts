import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { runTransporterConformance } from "./suite.js";

// A private rendezvous directory, so this suite never meets other flotilla nodes on the machine.
const dir = mkdtempSync(join(tmpdir(), "flotilla-conformance-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runTransporterConformance({
  name: "tcp://",
  transporter: () => `tcp://?udp=false&dir=${encodeURIComponent(dir)}`,
});

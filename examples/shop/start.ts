// `npm start`: the whole shop on this machine. Each service runs in its own process with the
// CLI (`flotilla run <file> --node-id <name>`) over the embedded tcp:// transporter (no broker
// to install), with its SQLite file under SHOP_DATA_DIR: first the SMTP mailbox, then users,
// products, coupons, orders, email and the gateway. When the gateway says every service is up,
// it prints the URL to open; Ctrl-C (or SIGTERM) stops every process cleanly.
//
// The environment passes through: FLOTILLA_TRANSPORTER=nats://… runs it over NATS,
// FLOTILLA_DB_URL=postgres://… on PostgreSQL, FLOTILLA_LOG_LEVEL=info shows the nodes' logs.
// SHOP_SMOKE=1 starts it, checks that `GET /api/products` answers, stops it and exits: for CI.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { SHOP_SERVICES, shopConfig } from "./shared/config.js";
import { SEED_USERS } from "./shared/seed.js";

const config = shopConfig();
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const repo = (file: string) => fileURLToPath(new URL(`../../${file}`, import.meta.url));
const cli = repo("bin/flotilla.js");
const base = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${config.port}`;
const smoke = process.env.SHOP_SMOKE === "1";
const STARTUP_TIMEOUT = 90_000;
const STOP_TIMEOUT = 15_000;

mkdirSync(config.dataDir, { recursive: true });
const env: NodeJS.ProcessEnv = {
  ...process.env,
  // A namespace per run: two shops (or a shop and the tests) on one machine never meet.
  FLOTILLA_NAMESPACE: process.env.FLOTILLA_NAMESPACE || `shop-${process.pid}`,
  FLOTILLA_TRANSPORTER: config.transporter,
  FLOTILLA_DATA_DIR: config.dataDir,
  FLOTILLA_LOG_LEVEL: process.env.FLOTILLA_LOG_LEVEL || "warn",
  // Reuse the configured secret, or make one for this start: tokens of an earlier start die.
  SHOP_JWT_SECRET: process.env.SHOP_JWT_SECRET || randomBytes(32).toString("base64url"),
  SHOP_PORT: String(config.port),
  SHOP_HOST: config.host,
  SHOP_SMTP_PORT: String(config.smtpPort),
  SMTP_URL: config.smtpUrl,
  // On Node lines without type stripping, `flotilla run` compiles the services with tsx, which
  // would follow tsconfig.json's `paths` from "flotilla" to src/ while the CLI itself runs dist/:
  // two copies of the framework in one process (errors cross between copies, but custom error
  // classes registered in one are unknown to the other). The build's tsconfig maps nothing, so
  // "flotilla" is dist/ for both, as it is in a project that installed the package.
  TSX_TSCONFIG_PATH: process.env.TSX_TSCONFIG_PATH || repo("tsconfig.build.json"),
};

const children = new Map<string, ChildProcess>();
let stopping = false;
let stopped: Promise<never> | undefined;

/** Starts `file` as a node of the shop, named `nodeID`. */
function run(file: string, nodeID: string): ChildProcess {
  const child = spawn(process.execPath, [cli, "run", here(file), "--node-id", nodeID], {
    env,
    stdio: "inherit",
    // A process group of its own: Ctrl-C in the terminal reaches only this script, which then
    // stops each node once. (Were the nodes to get the terminal's SIGINT as well, our SIGTERM
    // would be a second signal, which makes `flotilla run` quit at once instead of draining.)
    detached: true,
  });
  children.set(nodeID, child);
  child.on("exit", (code, signal) => {
    children.delete(nodeID);
    if (stopping) return;
    // A node that dies on its own leaves the shop broken: say which, and stop the rest.
    console.error(`${nodeID} exited (${signal ?? `code ${code}`}); stopping the shop.`);
    void stop(1);
  });
  return child;
}

/** Resolves once `check` is true, or rejects after `timeout` ms naming `what`. */
async function waitFor(what: string, check: () => Promise<boolean>, timeout = STARTUP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  while (!(await check().catch(() => false))) {
    if (stopping) throw new Error("stopped while starting");
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.end();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Whether the gateway answers and sees every service of the shop. */
async function ready(): Promise<boolean> {
  const response = await fetch(`${base}/api/status`);
  return response.ok && ((await response.json()) as { ready?: boolean }).ready === true;
}

/**
 * SIGTERM to every child, newest first (the gateway before what it calls), waiting for each;
 * then exits with `status`, or 1 when a node did not stop cleanly. Called again meanwhile (a
 * second Ctrl-C), it waits for the first call.
 */
function stop(status: number): Promise<never> {
  stopped ??= (async () => {
    stopping = true;
    let clean = true;
    for (const [nodeID, child] of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        console.error(`${nodeID} did not stop within ${STOP_TIMEOUT} ms; killing it.`);
        child.kill("SIGKILL");
      }, STOP_TIMEOUT);
      await exited;
      clearTimeout(timer);
      if (child.exitCode !== 0) {
        console.error(`${nodeID} stopped with ${child.signalCode ?? `code ${child.exitCode}`}.`);
        clean = false;
      }
    }
    if (!smoke) console.log(clean ? "The shop has stopped." : "The shop has stopped, not cleanly.");
    process.exit(clean ? status : 1);
  })();
  return stopped;
}

// Should this script die of an error, its nodes (in their own process groups) must not outlive it.
process.on("exit", () => {
  for (const child of children.values()) child.kill("SIGTERM");
});

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    if (!smoke) console.log("\nStopping the shop…");
    void stop(0);
  });
}

try {
  // The mailbox first: the email service sends to its SMTP port.
  run("./services/mailbox/service.ts", "mailbox");
  await waitFor(`the SMTP mailbox on port ${config.smtpPort}`, () => listening(config.smtpPort));
  for (const name of SHOP_SERVICES.filter((s) => s !== "mailbox")) {
    run(`./services/${name}/service.ts`, name);
  }
  run("./gateway/service.ts", "gateway");
  await waitFor(`the gateway on ${base} and every service`, ready);

  if (smoke) {
    const response = await fetch(`${base}/api/products`);
    const body = (await response.json()) as { total?: number };
    console.log(`Smoke: GET /api/products -> ${response.status}, ${body.total ?? "?"} products`);
    await stop(response.ok ? 0 : 1);
  }
  const [customer, admin] = [
    SEED_USERS.find((u) => u.role === "customer"),
    SEED_USERS.find((u) => u.role === "admin"),
  ];
  console.log(
    `Shop ready: ${base} — log in as ${customer?.email} / ${customer?.password}` +
      ` (admin: ${admin?.email} / ${admin?.password})`,
  );
  console.log("Press Ctrl-C to stop.");
} catch (err) {
  if (!stopping) {
    console.error(`The shop did not start: ${err instanceof Error ? err.message : String(err)}`);
    await stop(1);
  }
}

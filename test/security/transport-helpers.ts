// What the transport-security tests share: a logger that keeps its lines, a small service, and
// certificates made with openssl for the test.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { type BrokerOptions, defineService, type Logger, ServiceBroker } from "../../src/index.js";

/** A pino logger (debug and up) whose lines the test can read. */
export function recordingLogger(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream) as unknown as Logger, lines };
}

/** Warnings (pino level 40) whose message contains `text`. */
export const warnings = (lines: { level: number; msg: string }[], text: string) =>
  lines.filter((l) => l.level === 40 && l.msg.includes(text));

/** `math.add` and a listener of `math.added`, recording what it heard. */
export function mathService(heard: unknown[] = []) {
  return defineService({
    name: "math",
    actions: {
      add: {
        handler: (ctx) =>
          (ctx.params as { a: number; b: number }).a + (ctx.params as { a: number; b: number }).b,
      },
    },
    events: {
      "math.added": { handler: (ctx) => void heard.push(ctx.params) },
    },
  });
}

/** PEM files of a test CA and a certificate it signed for 127.0.0.1 and localhost. */
export interface TestPki {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** A certificate and key from another CA, which the cluster must not trust. */
  strangerCert: string;
  strangerKey: string;
  remove(): void;
}

/** Makes a CA, a server/client certificate and a stranger's self-signed one with openssl. */
export function makePki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), "flotilla-pki-"));
  const p = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const days = ["-days", "2"];
  /** A self-signed certificate `<name>.pem` with its key `<name>.key`. */
  const selfSigned = (name: string, ...subject: string[]) =>
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      p(`${name}.key`),
      "-out",
      p(`${name}.pem`),
      ...days,
      ...subject,
    );
  selfSigned("ca", "-subj", "/CN=flotilla test CA");
  writeFileSync(
    p("ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  ssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    p("node.key"),
    "-out",
    p("node.csr"),
    "-subj",
    "/CN=localhost",
  );
  ssl(
    "x509",
    "-req",
    "-in",
    p("node.csr"),
    "-CA",
    p("ca.pem"),
    "-CAkey",
    p("ca.key"),
    "-CAcreateserial",
    "-out",
    p("node.pem"),
    ...days,
    "-extfile",
    p("ext.cnf"),
  );
  const san = "subjectAltName=IP:127.0.0.1,DNS:localhost";
  selfSigned("stranger", "-subj", "/CN=localhost", "-addext", san);
  return {
    dir,
    ca: p("ca.pem"),
    cert: p("node.pem"),
    key: p("node.key"),
    strangerCert: p("stranger.pem"),
    strangerKey: p("stranger.key"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The secret the transport tests give their cluster's members. */
export const SECRET = "correct horse battery staple 42";

/**
 * A started node for the transport tests, logging into `lines`: with the secret or not, and with
 * a `math` service recording what it hears when `heard` is given. Pushed onto `brokers`.
 */
export async function securedNode(
  brokers: ServiceBroker[],
  options: BrokerOptions & { secret?: string | undefined; heard?: unknown[] | undefined },
): Promise<{ broker: ServiceBroker; lines: { level: number; msg: string }[] }> {
  const { secret, heard, ...rest } = options;
  const { logger, lines } = recordingLogger();
  const broker = new ServiceBroker({
    logger,
    heartbeatInterval: 100,
    ...rest,
    ...(secret === undefined ? {} : { security: { secret } }),
  });
  if (heard !== undefined) broker.createService(mathService(heard));
  brokers.push(broker);
  await broker.start();
  return { broker, lines };
}

// Smoke test of the transport benchmark's contenders, all in this one process: for every kind ×
// transport × codec a contender supports, serve, connect a client, check `add()` is 3 and that
// `echo` returns a 10 KB and a 1 MB string unchanged, time 1,000 sequential adds (a sanity
// number, not a benchmark), close both sides. Then the process must exit by itself: if it is
// still alive 5 s after the last close, something left a handle open and it fails.
// Run: node --import tsx bench/transports/smoke.ts [kind] [transport]
// Needs NATS, Redis and RabbitMQ on 127.0.0.1 (bash .ci/services.sh).
import { once } from "node:events";
import { type AddressInfo, createServer } from "node:net";
import { contenders } from "./contenders/index.js";
import { randomSuffix } from "./contenders/shared.js";
import type { BenchClient, Codec, Contender, Kind, Transport } from "./contract.js";

const TRANSPORTS: Transport[] = ["tcp", "nats", "redis", "amqp"];
const CODECS: Codec[] = ["json", "msgpack"];
const ADDS = 1_000;
/** Plain ASCII, no characters JSON escapes: 1 MB stays under NATS's default 1 MiB max payload. */
const text = (size: number) =>
  "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    .repeat(Math.ceil(size / 62))
    .slice(0, size);
const PAYLOADS = [
  { label: "10 KB", value: text(10_000) },
  { label: "1 MB", value: text(1_000_000) },
];

/** A port nobody listens on right now: listen on port 0, read it, close. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `promise`, or a rejection naming `step` after `ms`; the timer does not outlive it. */
async function within<T>(ms: number, step: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${step}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Serves, calls and closes one pair; returns its sequential calls/s. Throws on any mismatch. */
async function smokePair(contender: Contender, transport: Transport, codec: Codec) {
  const at = {
    transport,
    codec,
    namespace: `smoke-${contender.kind}-${transport}-${codec}-${randomSuffix()}`,
    port: transport === "tcp" ? await freePort() : 0,
  };
  const server = await within(20_000, "serve", contender.serve(at));
  let client: BenchClient | undefined;
  try {
    client = await within(20_000, "client", contender.client(at));
    const sum = await within(5_000, "add", client.add());
    if (sum !== 3) throw new Error(`add() returned ${JSON.stringify(sum)}, not 3`);
    for (const { label, value } of PAYLOADS) {
      const back = await within(10_000, `echo ${label}`, client.echo(value));
      if (back !== value) throw new Error(`echo ${label} came back changed`);
    }
    const started = performance.now();
    for (let i = 0; i < ADDS; i++) await within(5_000, `add #${i}`, client.add());
    const callsPerSec = Math.round((ADDS * 1000) / (performance.now() - started));
    await within(10_000, "client close", client.close());
    client = undefined;
    await within(10_000, "server close", server.close());
    return callsPerSec;
  } catch (err) {
    // Close what is still open, so one failing pair does not keep the process alive.
    await client?.close().catch(() => undefined);
    await server.close().catch(() => undefined);
    throw err;
  }
}

const [onlyKind, onlyTransport] = process.argv.slice(2);
const kinds = (Object.keys(contenders) as Kind[]).filter((k) => !onlyKind || k === onlyKind);
const transports = TRANSPORTS.filter((t) => !onlyTransport || t === onlyTransport);
if (kinds.length === 0 || transports.length === 0) {
  console.error("usage: smoke.ts [raw|flotilla|moleculer|nestjs] [tcp|nats|redis|amqp]");
  process.exit(2);
}

let failed = 0;
console.log(`${"kind".padEnd(10)}${"transport".padEnd(10)}${"codec".padEnd(9)}result`);
for (const kind of kinds) {
  const contender = contenders[kind];
  for (const transport of transports) {
    for (const codec of CODECS) {
      const row = `${kind.padEnd(10)}${transport.padEnd(10)}${codec.padEnd(9)}`;
      if (!contender.supports(transport, codec)) {
        console.log(`${row}not supported`);
        continue;
      }
      try {
        const callsPerSec = await smokePair(contender, transport, codec);
        console.log(`${row}ok  add=3, echo 10 KB + 1 MB intact, ${callsPerSec} calls/s`);
      } catch (err) {
        failed++;
        console.log(`${row}FAIL ${(err as Error).message}`);
      }
    }
  }
}
console.log(failed === 0 ? "all pairs passed" : `${failed} pair(s) failed`);
process.exitCode = failed === 0 ? 0 : 1;
// Every side is closed: nothing should keep the process alive now.
setTimeout(() => {
  console.error("still alive 5 s after the last close:", process.getActiveResourcesInfo());
  process.exit(1);
}, 5_000).unref();

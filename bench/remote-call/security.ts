// The cost of transport security on tcp:// remote calls: plain, cluster secret (handshake proof
// and sender binding), TLS (mutual), and both. Two brokers in this process over loopback;
// sequential calls and 64 in flight; medians of interleaved rounds.
//   node --import tsx bench/remote-call/security.ts   (BENCH_MS, BENCH_ROUNDS)
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { defineService, ServiceBroker } from "../../src/index.js";
import { parseTcpUrl, TcpTransporter } from "../../src/transporters/tcp/index.js";
import { makePki } from "../../test/security/transport-helpers.js";
import { measure as opsPerSec, report } from "../lib.js";

const ms = Number(process.env.BENCH_MS ?? 2000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const pki = makePki();
const tls = `tcps://?tlsCert=${pki.cert}&tlsKey=${pki.key}&tlsCa=${pki.ca}&tlsMutual=true`;
const configs = {
  plain: { url: "tcp://", secret: undefined },
  secret: { url: "tcp://", secret: "a bench secret of enough bytes" },
  tls: { url: tls, secret: undefined },
  "tls+secret": { url: tls, secret: "a bench secret of enough bytes" },
} as const;

async function measure(url: string, secret: string | undefined) {
  const dir = mkdtempSync(path.join(tmpdir(), "flotilla-bench-"));
  const make = (nodeID: string) =>
    new ServiceBroker({
      nodeID,
      logger: false,
      transporter: new TcpTransporter({ ...parseTcpUrl(url), dir, udp: false }),
      ...(secret === undefined ? {} : { security: { secret } }),
    });
  const server = make("server");
  server.createService(
    defineService({ name: "echo", actions: { hi: { handler: (ctx) => ctx.params } } }),
  );
  const client = make("client");
  await server.start();
  await client.start();
  await client.waitForServices(["echo"]);
  const call = () => client.call("echo.hi", { a: 1 });
  const result = {
    sequential: await opsPerSec(call, 1, ms),
    parallel64: await opsPerSec(call, 64, ms),
  };
  await client.stop();
  await server.stop();
  return result;
}

const samples: Record<string, { sequential: number[]; parallel64: number[] }> = {};
for (let r = 0; r < rounds; r++) {
  for (const [name, c] of Object.entries(configs)) {
    const s = await measure(c.url, c.secret);
    samples[name] ??= { sequential: [], parallel64: [] };
    samples[name].sequential.push(s.sequential);
    samples[name].parallel64.push(s.parallel64);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const spread = (xs: number[]) => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});
const rows = Object.entries(samples).flatMap(([name, s]) => [
  { name: `flotilla ${name}`, inFlight: 1, opsPerSec: median(s.sequential) },
  { name: `flotilla ${name}`, inFlight: 64, opsPerSec: median(s.parallel64) },
]);
const ratios = Object.fromEntries(
  Object.entries(samples).map(([name, s]) => [
    name,
    {
      sequentialVsPlain: +(median(s.sequential) / median(samples.plain?.sequential ?? [1])).toFixed(
        2,
      ),
      parallel64VsPlain: +(median(s.parallel64) / median(samples.plain?.parallel64 ?? [1])).toFixed(
        2,
      ),
    },
  ]),
);
const spreads = Object.fromEntries(
  Object.entries(samples).map(([name, s]) => [
    name,
    { sequential: spread(s.sequential), parallel64: spread(s.parallel64) },
  ]),
);
report("remote-call-security", rows, { rounds, ratios, spreads });
pki.remove();

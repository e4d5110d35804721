// The server side of the remote-call benchmark, one kind per child process:
//   raw       a plain `net` server answering NDJSON request lines (the floor)
//   moleculer a Moleculer node with the TCP transporter
//   flotilla  a Flotilla node with the tcp:// transporter
// It prints "ready <port>" once it can take calls.
import { createServer } from "node:net";

const [kind, port, extra] = process.argv.slice(2);
// Exit normally on SIGINT so profilers (--cpu-prof) can write their output.
process.on("SIGINT", () => process.exit(0));

if (kind === "raw") {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString();
      let nl = buffered.indexOf("\n");
      let out = "";
      while (nl !== -1) {
        const req = JSON.parse(buffered.slice(0, nl)) as {
          id: number;
          params: { a: number; b: number };
        };
        out += `${JSON.stringify({ id: req.id, result: req.params.a + req.params.b })}\n`;
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf("\n");
      }
      if (out) socket.write(out);
    });
  });
  server.listen(Number(port), "127.0.0.1", () => console.log(`ready ${port}`));
} else if (kind === "moleculer") {
  const { ServiceBroker } = await import("moleculer");
  const broker = new ServiceBroker({
    nodeID: "m-server",
    logger: false,
    transporter: {
      type: "TCP",
      options: { udpDiscovery: false, port: Number(port), urls: `127.0.0.1:${extra}/m-client` },
    },
  });
  broker.createService({
    name: "math",
    actions: {
      add: { handler: (ctx: { params: { a: number; b: number } }) => ctx.params.a + ctx.params.b },
    },
  });
  await broker.start();
  console.log(`ready ${port}`);
} else if (kind === "flotilla") {
  const { defineService, ServiceBroker } = await import("flotilla");
  const broker = new ServiceBroker({
    nodeID: "f-server",
    namespace: extra,
    logger: false,
    transporter: `tcp://?udp=false&port=${port}`,
  });
  broker.createService(
    defineService({
      name: "math",
      actions: { add: { handler: (ctx) => (ctx.params.a as number) + (ctx.params.b as number) } },
    }),
  );
  await broker.start();
  console.log(`ready ${port}`);
}

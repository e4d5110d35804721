// `npm start`: runs the two services of this example as separate processes over the embedded
// tcp transporter (no broker to install), calls them from a third node, prints what happened,
// and shuts everything down.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ServiceBroker } from "flotilla";
import type {} from "./greeter.js"; // brings the typed Services map into scope

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const cli = fileURLToPath(new URL("../../bin/flotilla.js", import.meta.url));
const namespace = `hello-${process.pid}`;
const env = {
  ...process.env,
  FLOTILLA_NAMESPACE: namespace,
  FLOTILLA_LOG_LEVEL: process.env.FLOTILLA_LOG_LEVEL ?? "info",
};

function service(file: string, nodeID: string): ChildProcess {
  const child = spawn(process.execPath, [cli, "run", here(file), "--node-id", nodeID], {
    env,
    stdio: "inherit",
  });
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal === null) console.error(`${nodeID} exited with ${code}`);
  });
  return child;
}

const children = [service("./math.ts", "math-node"), service("./greeter.ts", "greeter-node")];
const client = new ServiceBroker({
  nodeID: "hello-client",
  namespace,
  transporter: "tcp://",
  logger: false,
});
let status = 0;
try {
  await client.start();
  await client.waitForServices(["greeter", "math"], 30_000);
  for (const name of ["Ada", "Grace", "Linus"]) {
    const greeting = await client.call("greeter.welcome", { name });
    console.log(`hello-client: greeter.welcome(${name}) -> ${greeting}`);
  }
  const sum = await client.call("math.add", { a: 2, b: 3 });
  console.log(`hello-client: math.add(2, 3) -> ${sum}`);
  await client
    .call("greeter.welcome", { name: "" })
    .catch((err: { code: string; message: string }) => {
      console.log(`hello-client: greeter.welcome("") -> ${err.code}: ${err.message}`);
    });
} catch (err) {
  console.error("hello-client failed:", err);
  status = 1;
} finally {
  await client.stop();
  await Promise.all(
    children.map(
      (child) =>
        new Promise((resolve) =>
          child.exitCode === null ? child.once("exit", resolve).kill("SIGTERM") : resolve(null),
        ),
    ),
  );
}
console.log(
  status === 0 ? "Done: two services in two processes called each other over tcp://." : "Failed.",
);
process.exit(status);

import { deleteNatsNamespaces } from "./servers.js";
import { onSharedServer, runDurableConformance } from "./suite.js";

// Durable events on the JetStream of this machine (127.0.0.1:4222); the restart runs on a
// nats-server with JetStream of the test's own. A killed member's message comes back after
// ack_wait: 2 s here instead of the default 30 s.
runDurableConformance({
  name: "nats",
  ...onSharedServer("nats", { query: "?ackWait=2000", restart: { jetstream: true, down: "kill" } }),
  cleanup: deleteNatsNamespaces,
});

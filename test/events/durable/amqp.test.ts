import { SHARED } from "../../harness/index.js";
import { deleteAmqpNamespace } from "./servers.js";
import { onSharedServer, runDurableConformance, SUITE_GROUPS } from "./suite.js";

// Durable events on the RabbitMQ of this machine; the restart runs on a RabbitMQ node of the
// test's own (the shared one is never stopped), taken down with SIGTERM.

/** The groups the suite's scenarios declare, per stream, to delete afterwards. */

runDurableConformance({
  name: "amqp",
  ...onSharedServer("rabbitmq", { restart: { down: "stop" } }),
  async cleanup(namespaces) {
    for (const ns of namespaces) await deleteAmqpNamespace(SHARED.rabbitmq.url, ns, SUITE_GROUPS);
  },
});

import { runTransporterConformance } from "./suite.js";

// RabbitMQ on this machine (`.ci/services.sh` starts it). Each test runs in its own namespace, and
// node queues are exclusive, so nothing outlives the suite. Unreachable, every test fails: in CI
// (and anywhere else) a missing broker is a red run, never a silent skip.
runTransporterConformance({
  name: "amqp://",
  transporter: () => "amqp://guest:guest@127.0.0.1:5672",
});

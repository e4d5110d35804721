import { NatsTransporter } from "../../src/transporters/nats/index.js";
import { describeBrokerRestart } from "./broker-restart.js";

// A private nats-server on a free port, killed and started again under live nodes.
// Reconnect waits are shortened only for the transporter-level test; the nodes use the defaults.
describeBrokerRestart(
  "nats",
  (server) => new NatsTransporter({ servers: [server.address], reconnectWait: 200 }),
);

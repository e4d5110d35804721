import { RedisTransporter } from "../../src/transporters/redis/index.js";
import { describeBrokerRestart } from "./broker-restart.js";

// A private redis-server on a free port, killed and started again under live nodes.
describeBrokerRestart("redis", (server) => new RedisTransporter({ port: server.port }));

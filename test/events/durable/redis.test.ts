import { deleteRedisNamespaces } from "./servers.js";
import { onSharedServer, runDurableConformance } from "./suite.js";

// Durable events on the Redis of this machine (Redis Streams); the restart runs on a
// redis-server of the test's own that persists every write. Members claim a dead member's
// messages after 2 s idle (`claimIdle=2000`) instead of the default 30 s.
runDurableConformance({
  name: "redis",
  ...onSharedServer("redis", {
    query: "?claimIdle=2000",
    restart: { persistent: true, down: "kill" },
  }),
  cleanup: deleteRedisNamespaces,
});

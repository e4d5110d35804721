// The gateway in front of a users service, in one process:
//   node --import tsx examples/gateway/main.ts
// then:
//   curl -s localhost:3000/api/users/1
//   curl -s localhost:3000/api/users/abc            (422, problem+json)
//   TOKEN=$(curl -s -XPOST localhost:3000/api/login -H 'content-type: application/json' -d '{"name":"ada"}' | jq -r .token)
//   curl -s localhost:3000/api/me -H "authorization: Bearer $TOKEN"
//   open http://localhost:3000/docs
import { ServiceBroker } from "flotilla";
import { gatewayOf, gatewayService, jwtAuth } from "flotilla/gateway";
import { JWT_SECRET, users } from "./users.js";

const broker = new ServiceBroker({ nodeID: "edge" });
broker.createService(users);
broker.createService(
  gatewayService({
    port: Number(process.env.PORT ?? 3000),
    prefix: "/api",
    cors: true,
    openapi: { title: "Users example", version: "1.0.0" },
    authenticate: jwtAuth({ secret: JWT_SECRET, optional: true }),
    aliases: { "POST /login": { action: "users.login", authenticate: false } },
    actions: { "users.me": { authorize: (user) => user !== undefined } },
  }),
);
await broker.start();
broker.logger.info(`Docs on ${gatewayOf(broker)?.address}/docs`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void broker.stop().then(() => process.exit(0));
  });
}

import { runResilienceScenarios } from "./suite.js";

runResilienceScenarios({
  name: "nats://",
  transporter: () => "nats://127.0.0.1:4222",
  noticeWithin: 1_500,
});

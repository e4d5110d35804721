import { beforeAll } from "vitest";
import { requireServer, SHARED } from "../harness/index.js";
import { runResilienceScenarios } from "./suite.js";

beforeAll(() => requireServer("nats"));

runResilienceScenarios({
  name: "nats://",
  transporter: () => SHARED.nats.url,
  noticeWithin: 1_500,
});

import { pino } from "pino";
import type { TransporterContext } from "../../src/transporters/transporter.js";

/**
 * What an attacker's transporter is connected with: a node ID of its choosing, a silent logger,
 * and no interest in what it receives.
 */
export function attackerContext(nodeID = "evil"): TransporterContext {
  return {
    nodeID,
    namespace: "",
    logger: pino({ enabled: false }),
    maxPacketSize: 1 << 20,
    onMessage: () => {},
  };
}

/** The INFO of issue 12's probe: it broke the remote catalogue, and discovery with it. */
export const BAD_INFO = {
  sender: "evil",
  instanceID: "i-1",
  seq: 1,
  hostname: "h",
  services: [null, { name: "math", actions: 5 }],
  client: { type: "flotilla", version: "0" },
} as const;

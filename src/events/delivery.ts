import type { EventEnvelope } from "../service/call-types.js";
import type { ContextInit, ServiceInstance } from "../service/types.js";

/**
 * The context of one delivery of an event that came from elsewhere (another node's packet, a
 * durable stream): its place in the sender's chain, its meta and headers, for `service`.
 */
export function deliveryInit(
  event: EventEnvelope & { readonly sender: string },
  service: ServiceInstance,
): ContextInit<unknown> {
  return {
    name: event.event,
    params: event.payload,
    meta: event.meta ?? {},
    requestID: event.requestID,
    callerNodeID: event.sender,
    headers: event.headers,
    messageID: event.messageID,
    origin: { level: event.level, parentID: event.parentID, caller: event.caller },
    service,
  };
}

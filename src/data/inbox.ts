import type { Transaction } from "kysely";
import { NoDatabaseError } from "../errors/index.js";
import type { Context } from "../service/types.js";
import type { FlotillaTables } from "./outbox/schema.js";

/** An event handler as the registry runs it. */
type Handler = (ctx: Context<unknown>) => unknown;

/**
 * Wraps a durable handler of a service with a database so each message has its effect once: in
 * one transaction, record the message ID in the inbox and run the handler (its `ctx.db` is that
 * transaction, and its `tx.emit`s join it). A message whose ID is already there was handled:
 * it is acknowledged without running the handler again. A handler that throws rolls the record
 * back with its writes, so the retry runs it afresh.
 */
export function inboxHandler(handler: Handler): Handler {
  return async (ctx) => {
    const data = ctx.service?.data;
    if (data === undefined) throw new NoDatabaseError(ctx.service?.fullName ?? ctx.name);
    const messageID = ctx.messageID;
    if (messageID === undefined) return handler(ctx);
    return data.transaction(
      ctx,
      async (tx) => {
        const inbox = tx.db as unknown as Transaction<FlotillaTables>;
        const recorded = await inbox
          .insertInto("flotilla_inbox")
          .values({ message_id: messageID, handled_at: Date.now() })
          .onConflict((oc) => oc.column("message_id").doNothing())
          .executeTakeFirst();
        if (Number(recorded.numInsertedOrUpdatedRows ?? 0) === 0) return undefined;
        return handler(ctx);
      },
      undefined,
      // Its own transaction, even when the delivery started inside another one (an emit from a
      // transaction of this service): the record must commit with the handler's writes only.
      true,
    );
  };
}

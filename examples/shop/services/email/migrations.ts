// The email service's table: a log of the mails it sent, written in the same transaction as the
// inbox record of the event that caused each one (so an event has one row, however often it is
// delivered). Portable between SQLite and PostgreSQL; times as ISO 8601 text.
import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** The rows of the email service. */
export interface EmailDB {
  sent_mails: {
    /** The mail's `Message-ID`, made from the event's message ID: `<id@shop.flotilla>`. */
    message_id: string;
    order_id: string;
    /** Which mail: the order's confirmation, or the notice that it was rejected. */
    kind: "confirmed" | "rejected";
    recipient: string;
    subject: string;
    /** ISO 8601. */
    sent_at: string;
  };
}

/** The email service's migrations, run in name order when it starts. */
export const migrations: Record<string, Migration> = {
  "0001_sent_mails": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("sent_mails")
        .addColumn("message_id", "text", (c) => c.primaryKey())
        .addColumn("order_id", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("recipient", "text", (c) => c.notNull())
        .addColumn("subject", "text", (c) => c.notNull())
        .addColumn("sent_at", "text", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("sent_mails_order").on("sent_mails").column("order_id").execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("sent_mails").execute();
    },
  },
};

// The mailbox's tables: the mails it received, one row per `Message-ID` (a copy of a mail it has
// is not stored again), and their envelope recipients, to list one person's mail. Portable
// between SQLite and PostgreSQL; times as ISO 8601 text.
import type { Kysely } from "kysely";
import type { Migration } from "kysely/migration";

/** The rows of the mailbox. */
export interface MailboxDB {
  mails: {
    /** A UUID. */
    id: string;
    /** The mail's `Message-ID` (`<id@host>`); one that had none gets one here. Unique. */
    message_id: string;
    /** The `From` header, decoded. */
    sender: string;
    /** The `To` header, decoded. */
    recipients: string;
    subject: string;
    /** The text body. */
    text: string;
    /** ISO 8601. */
    received_at: string;
    /** The order of arrival: 1, 2, 3… (two mails can arrive within one millisecond). */
    seq: number;
  };
  mail_recipients: {
    mail_id: string;
    /** An envelope recipient (`RCPT TO`), lower-cased. */
    address: string;
  };
}

/** The mailbox's migrations, run in name order when it starts. */
export const migrations: Record<string, Migration> = {
  "0001_mails": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("mails")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("message_id", "text", (c) => c.notNull().unique())
        .addColumn("sender", "text", (c) => c.notNull())
        .addColumn("recipients", "text", (c) => c.notNull())
        .addColumn("subject", "text", (c) => c.notNull())
        .addColumn("text", "text", (c) => c.notNull())
        .addColumn("received_at", "text", (c) => c.notNull())
        .addColumn("seq", "integer", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("mail_recipients")
        .addColumn("mail_id", "text", (c) => c.notNull())
        .addColumn("address", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("mail_recipients_pk", ["mail_id", "address"])
        .execute();
      await db.schema
        .createIndex("mail_recipients_address")
        .on("mail_recipients")
        .column("address")
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("mail_recipients").execute();
      await db.schema.dropTable("mails").execute();
    },
  },
};

// The demo mailbox: an SMTP server (smtp-server) on 127.0.0.1 that keeps every mail it receives,
// so the shop's mails can be read in the storefront without a real mail account. Any sender and
// recipient is accepted, without authentication or TLS: it listens on the loopback interface
// only and is a demo, not a mail server. A copy of a mail it already has (same `Message-ID`) is
// acknowledged and not stored again.
import { randomUUID } from "node:crypto";
import { type DataContext, defineDatabase, defineService, type Logger } from "flotilla";
import { SMTPServer } from "smtp-server";
import { z } from "zod";
import { shopConfig } from "../../shared/config.js";
import { type MailboxDB, migrations } from "./migrations.js";
import { parseMail } from "./parse.js";

/** A received mail, as `mailbox.list` returns it. */
export interface Mail {
  id: string;
  messageId: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  /** ISO 8601. */
  receivedAt: string;
}

/** The interface the server listens on: this machine only. */
const HOST = "127.0.0.1";

/** The most mails `mailbox.list` returns: the newest. */
const LIMIT = 100;

/** Mails larger than this (bytes) are refused. */
const MAX_SIZE = 1024 * 1024;

/** The SMTP server of each running instance of the service. */
const servers = new WeakMap<object, SMTPServer>();

type MailRow = MailboxDB["mails"];

function mailOf(row: MailRow): Mail {
  return {
    id: row.id,
    messageId: row.message_id,
    from: row.sender,
    to: row.recipients,
    subject: row.subject,
    text: row.text,
    receivedAt: row.received_at,
  };
}

/** An SMTP error answer: `responseCode` is what the client is told (4xx: try again later). */
function smtpError(message: string, responseCode: number): Error {
  return Object.assign(new Error(message), { responseCode });
}

/**
 * Stores a received message with its envelope recipients, unless a mail with its `Message-ID`
 * is there already. Returns whether it was new.
 */
async function keep(
  service: DataContext<MailboxDB>,
  raw: string,
  rcptTo: readonly string[],
): Promise<boolean> {
  const mail = parseMail(raw);
  const id = randomUUID();
  return service.transaction(async (tx) => {
    // Transactions that write take turns (SQLite's write lock): the next number is free.
    const last = await tx.db
      .selectFrom("mails")
      .select((eb) => eb.fn.max("seq").as("seq"))
      .executeTakeFirst();
    const inserted = await tx.db
      .insertInto("mails")
      .values({
        id,
        message_id: mail.messageId ?? `<${id}@mailbox.flotilla>`,
        sender: mail.from,
        recipients: mail.to,
        subject: mail.subject,
        text: mail.text,
        received_at: new Date().toISOString(),
        seq: Number(last?.seq ?? 0) + 1,
      })
      .onConflict((oc) => oc.column("message_id").doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return false;
    const addresses = [...new Set(rcptTo.map((a) => a.toLowerCase()))];
    if (addresses.length > 0) {
      await tx.db
        .insertInto("mail_recipients")
        .values(addresses.map((address) => ({ mail_id: id, address })))
        .execute();
    }
    return true;
  });
}

/** Starts `server` on `port`; rejects when the port is taken. */
function listen(server: SMTPServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * The shop's mailbox: an SMTP server on `127.0.0.1:$SHOP_SMTP_PORT` (2525) while the service
 * runs, and the mails it received.
 *
 * @example
 * ```ts
 * const mails = await broker.call("mailbox.list", { to: "ada@shop.test" });
 * mails[0]?.subject; // "Your order … is confirmed"
 * ```
 */
export const mailbox = defineService({
  name: "mailbox",
  database: defineDatabase<MailboxDB>({ migrations }),
  actions: {
    list: {
      params: z.object({ to: z.string().trim().max(254).optional() }),
      rest: "GET /mailbox",
      visibility: "published",
      summary: "The mails received (to one address, if given), newest first",
      async handler(ctx): Promise<Mail[]> {
        const to = ctx.params.to?.toLowerCase();
        let query = ctx.db.selectFrom("mails").selectAll();
        if (to !== undefined && to !== "") {
          query = query.where("id", "in", (eb) =>
            eb.selectFrom("mail_recipients").select("mail_id").where("address", "=", to),
          );
        }
        const rows = await query.orderBy("seq", "desc").limit(LIMIT).execute();
        return rows.map(mailOf);
      },
    },

    clear: {
      summary: "Deletes every mail (for tests; not on the gateway)",
      async handler(ctx): Promise<{ cleared: number }> {
        return ctx.transaction(async (tx) => {
          await tx.db.deleteFrom("mail_recipients").execute();
          const deleted = await tx.db.deleteFrom("mails").executeTakeFirst();
          return { cleared: Number(deleted.numDeletedRows) };
        });
      },
    },
  },

  async started(service) {
    const { smtpPort } = shopConfig();
    const logger: Logger = service.logger;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      banner: "Flotilla shop mailbox",
      size: MAX_SIZE,
      logger: false,
      // Stopping waits this long (ms) for a client in the middle of a mail.
      closeTimeout: 1_000,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("error", (err) => callback(err));
        stream.on("end", () => {
          if (stream.sizeExceeded) {
            callback(smtpError("The mail is too large", 552));
            return;
          }
          const rcptTo = session.envelope.rcptTo.map((a) => a.address);
          keep(service, Buffer.concat(chunks).toString("utf8"), rcptTo).then(
            (stored) => {
              if (!stored) logger.debug({ to: rcptTo }, "a copy of a mail it has: not stored");
              callback();
            },
            (err: unknown) => {
              logger.error({ err }, "could not store a mail");
              // 451: the sender keeps the mail and tries again later.
              callback(smtpError("The mail could not be stored, try again later", 451));
            },
          );
        });
      },
    });
    await listen(server, smtpPort);
    // Connection-level errors (a client that hangs up) are reported here; they are not fatal.
    server.on("error", (err) => logger.warn({ err }, "SMTP connection error"));
    servers.set(service, server);
    logger.info(`Mailbox: SMTP on ${HOST}:${smtpPort}`);
  },

  async stopped(service) {
    const server = servers.get(service);
    servers.delete(service);
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  },
});

declare module "flotilla" {
  interface Services {
    mailbox: typeof mailbox;
  }
}

export default mailbox;

// The shop's email service and its mailbox, over real SMTP on 127.0.0.1 (a free port per test):
// the mails of a confirmed and a rejected order, one mail however often an event is delivered,
// a mail retried until the mail server is up, the mailbox's own rules (one copy per Message-ID,
// a list per recipient, MIME decoding), and a checkout that ends in the buyer's mailbox.
import type { ServiceBroker } from "flotilla";
import {
  createMemoryTransporter,
  createTestBroker,
  MemoryBus,
  waitForEvent,
} from "flotilla/testing";
import type { Kysely } from "kysely";
import { createTransport } from "nodemailer";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import coupons from "../../examples/shop/services/coupons/service.js";
import type { EmailDB } from "../../examples/shop/services/email/migrations.js";
import email from "../../examples/shop/services/email/service.js";
import { parseMail } from "../../examples/shop/services/mailbox/parse.js";
import mailbox from "../../examples/shop/services/mailbox/service.js";
import orders from "../../examples/shop/services/orders/service.js";
import products from "../../examples/shop/services/products/service.js";
import { freePort, until } from "../harness/index.js";

const ENV = ["SHOP_SEED", "SHOP_SMTP_PORT", "SMTP_URL"] as const;
const saved = new Map(ENV.map((k) => [k, process.env[k]]));
beforeAll(() => {
  process.env.SHOP_SEED = "0";
});
afterAll(() => {
  for (const [key, value] of saved) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

let port: number;
let broker: ServiceBroker;
let emailService: { readonly db: unknown };

beforeEach(async () => {
  port = await freePort();
  process.env.SHOP_SMTP_PORT = String(port);
  process.env.SMTP_URL = `smtp://127.0.0.1:${port}`;
  // On memory:// the durable streams keep an emit's message ID (on a node without a
  // transporter, the node-local stream gives each delivery a new one).
  broker = createTestBroker({ transporter: createMemoryTransporter(new MemoryBus("email-test")) });
  emailService = broker.createService(email);
});
afterEach(() => broker.stop());

const created = {
  orderId: "o-1",
  userId: "u-ada",
  email: "ada@shop.test",
  total: 3960,
  subtotal: 4400,
  discount: 440,
  coupon: "WELCOME10",
  items: [
    { productId: "p-mug", name: "Enamel Mug", qty: 2, price: 1200 },
    { productId: "p-tee", name: "Flotilla T-Shirt", qty: 1, price: 2000 },
  ],
};

const inbox = (to?: string) => broker.call("mailbox.list", to === undefined ? {} : { to });
/** How many mails the email service logged as sent. */
const sentCount = async () => {
  const db = emailService.db as Kysely<EmailDB>;
  return (await db.selectFrom("sent_mails").selectAll().execute()).length;
};

describe("email: mails about orders", () => {
  beforeEach(async () => {
    broker.createService(mailbox);
    await broker.start();
  });

  it("mails the confirmation of orders.created over SMTP, once however often it is delivered", async () => {
    await broker.emit("orders.created", created, { messageID: "evt-1" });
    const [mail] = await until(async () => {
      const mails = await inbox();
      return mails.length > 0 && mails;
    });
    expect(mail).toMatchObject({
      messageId: "<evt-1@shop.flotilla>",
      from: "Flotilla Shop <shop@flotilla.test>",
      to: "ada@shop.test",
      subject: "Your order o-1 is confirmed",
    });
    expect(mail!.text).toContain("2 x Enamel Mug at $12.00: $24.00");
    expect(mail!.text).toContain("1 x Flotilla T-Shirt at $20.00: $20.00");
    expect(mail!.text).toContain("Discount (coupon WELCOME10): -$4.40");
    expect(mail!.text).toContain("Total: $39.60");
    expect(Date.parse(mail!.receivedAt)).toBeGreaterThan(Date.now() - 60_000);

    // The same event again (a redelivery): the inbox knows its ID, nothing is sent.
    const again = waitForEvent(broker, "orders.created");
    await broker.emit("orders.created", created, { messageID: "evt-1" });
    expect((await again).error).toBeUndefined();
    expect(await sentCount()).toBe(1);
    expect(await inbox()).toHaveLength(1);
  });

  it("mails the reason of a rejected order, and nothing for other statuses", async () => {
    const confirmed = waitForEvent(
      broker,
      "orders.status",
      (p: { status: string }) => p.status === "confirmed",
    );
    await broker.emit("orders.status", {
      orderId: "o-2",
      userId: "u-ada",
      email: "ada@shop.test",
      status: "confirmed",
    });
    await confirmed;
    await broker.emit("orders.status", {
      orderId: "o-3",
      userId: "u-ada",
      email: "ada@shop.test",
      status: "rejected",
      reason: "Coupon ONCE is used up",
    });
    const [mail] = await until(async () => {
      const mails = await inbox("ADA@shop.test");
      return mails.length > 0 && mails;
    });
    expect(mail).toMatchObject({ to: "ada@shop.test", subject: "Your order o-3 was not placed" });
    expect(mail!.text).toContain("Reason: Coupon ONCE is used up");
    expect(await inbox()).toHaveLength(1);
    expect(await sentCount()).toBe(1);
  });
});

describe("email: the mail server is down", () => {
  it("retries the mail until the mailbox is up, and sends it once", async () => {
    await broker.start();
    const failed = waitForEvent(broker, "orders.created", () => true, { timeout: 10_000 });
    await broker.emit("orders.created", created, { messageID: "evt-down" });
    const first = await failed;
    expect(first.error).toMatchObject({ code: "ESOCKET" }); // connection refused
    expect(await sentCount()).toBe(0);

    // The mailbox starts (a service created on a running broker starts at once).
    broker.createService(mailbox);
    await broker.waitForServices(["mailbox"], 5_000);
    const [mail] = await until(
      async () => {
        const mails = await inbox();
        return mails.length > 0 && mails;
      },
      { timeout: 15_000, message: "the retried mail" },
    );
    expect(mail).toMatchObject({
      messageId: "<evt-down@shop.flotilla>",
      subject: "Your order o-1 is confirmed",
    });
    expect(await sentCount()).toBe(1);
  });
});

describe("mailbox", () => {
  beforeEach(async () => {
    broker.createService(mailbox);
    await broker.start();
  });

  const smtp = () => createTransport({ url: `smtp://127.0.0.1:${port}` });

  it("keeps one copy per Message-ID, lists newest first and by recipient, and clears", async () => {
    const transport = smtp();
    try {
      const mail = { from: "a@x.test", to: "Bob <bob@x.test>", subject: "One", text: "1" };
      await transport.sendMail({ ...mail, messageId: "<one@x.test>" });
      await transport.sendMail({ ...mail, messageId: "<one@x.test>" }); // a copy: accepted, not kept
      await transport.sendMail({
        ...mail,
        to: "carol@x.test",
        subject: "Two",
        messageId: "<two@x.test>",
      });
    } finally {
      transport.close();
    }
    expect((await inbox()).map((m) => m.subject)).toEqual(["Two", "One"]);
    expect(await inbox("bob@x.test")).toMatchObject([{ subject: "One", to: "Bob <bob@x.test>" }]);
    expect(await inbox("nobody@x.test")).toEqual([]);
    expect(await broker.call("mailbox.clear")).toEqual({ cleared: 2 });
    expect(await inbox()).toEqual([]);
  });

  it("decodes encoded headers and quoted-printable or base64 bodies", async () => {
    const transport = smtp();
    const text = `Café for 2 € — ${"a long line ".repeat(10)}\nsecond line`;
    try {
      await transport.sendMail({
        from: "Zoë <z@x.test>",
        to: "z@x.test",
        subject: "Grüße ☕",
        text,
      });
      await transport.sendMail({
        from: "z@x.test",
        to: "z@x.test",
        subject: "Base64",
        text: "Ünïcode body",
        textEncoding: "base64",
      });
    } finally {
      transport.close();
    }
    const mails = await inbox();
    expect(mails.find((m) => m.subject === "Grüße ☕")).toMatchObject({
      from: "Zoë <z@x.test>",
      text,
    });
    expect(mails.find((m) => m.subject === "Base64")?.text).toBe("Ünïcode body");
  });
});

describe("mailbox: parseMail", () => {
  it("unfolds headers, decodes words, and takes the first text/plain part", () => {
    const raw = [
      "From: =?UTF-8?B?Wm/Dqw==?= <z@x.test>",
      "To: a@x.test,",
      " b@x.test",
      "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?Q?_und_mehr?=",
      "Message-ID: <m1@x.test>",
      'Content-Type: multipart/alternative; boundary="b1"',
      "",
      "--b1",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: base64",
      "",
      Buffer.from("Hallo Zoë\r\n").toString("base64"),
      "--b1",
      "Content-Type: text/html",
      "",
      "<p>Hallo</p>",
      "--b1--",
      "",
    ].join("\r\n");
    expect(parseMail(raw)).toEqual({
      messageId: "<m1@x.test>",
      from: "Zoë <z@x.test>",
      to: "a@x.test, b@x.test",
      subject: "Grüße und mehr",
      text: "Hallo Zoë",
    });
  });

  it("reads a mail without headers it needs", () => {
    expect(parseMail("Subject: x\n\nbody=\n")).toEqual({
      messageId: undefined,
      from: "",
      to: "",
      subject: "x",
      text: "body=",
    });
  });
});

describe("email: from checkout to the buyer's mailbox", () => {
  it("a confirmed and a rejected checkout each end as a mail to the buyer", async () => {
    broker.createService(mailbox);
    broker.createService(products);
    broker.createService(coupons);
    broker.createService(orders);
    await broker.start();
    const boss = { meta: { user: { sub: "b", email: "b@shop.test", name: "B", role: "admin" } } };
    const ada = {
      meta: { user: { sub: "u-ada", email: "ada@shop.test", name: "Ada", role: "customer" } },
    };
    const mug = await broker.call(
      "products.create",
      { sku: "MUG", name: "Enamel Mug", description: "", price: 1200, stock: 1 },
      boss,
    );
    const items = [{ productId: mug.id, qty: 1 }];
    const ok = await broker.call("orders.checkout", { items }, ada);
    const no = await broker.call("orders.checkout", { items }, ada);
    expect([ok.status, no.status]).toEqual(["confirmed", "rejected"]);

    const mails = await until(
      async () => {
        const list = await inbox("ada@shop.test");
        return list.length === 2 && list;
      },
      { timeout: 10_000, message: "two mails to Ada" },
    );
    expect(mails.map((m) => m.subject).sort()).toEqual(
      [`Your order ${ok.id} is confirmed`, `Your order ${no.id} was not placed`].sort(),
    );
    expect(mails.find((m) => m.subject.includes(no.id))?.text).toContain(
      "Out of stock: Enamel Mug",
    );
    expect(mails.find((m) => m.subject.includes(ok.id))?.text).toContain("1 x Enamel Mug");
  });
});

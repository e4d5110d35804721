// Just enough of RFC 5322 and MIME to show the shop's mails: the headers (unfolded, with RFC 2047
// encoded words decoded), and the text body, decoded from quoted-printable or base64, taken from
// the first text/plain part of a multipart message. Not a general mail parser: attachments,
// HTML-only mails and exotic charsets are shown as well as this can, never rejected.

/** What the mailbox keeps of a mail. */
export interface ParsedMail {
  /** `Message-ID` as written (`<id@host>`), if the mail has one. */
  messageId: string | undefined;
  from: string;
  to: string;
  subject: string;
  /** The text body, with `\n` line ends. */
  text: string;
}

/** A header block and its body. Header names are lower-cased; the first of a name wins. */
interface Entity {
  headers: Map<string, string>;
  body: string;
}

/**
 * Parses a raw message as an SMTP server receives it (the DATA, dot-unstuffed).
 *
 * @example
 * ```ts
 * parseMail("Subject: Hi\r\nMessage-ID: <1@x>\r\n\r\nHello\r\n");
 * // { messageId: "<1@x>", from: "", to: "", subject: "Hi", text: "Hello" }
 * ```
 */
export function parseMail(raw: string): ParsedMail {
  const mail = entityOf(raw);
  const header = (name: string) => decodeWords(mail.headers.get(name) ?? "");
  const messageId = mail.headers.get("message-id")?.trim();
  return {
    messageId: messageId === undefined || messageId === "" ? undefined : messageId,
    from: header("from"),
    to: header("to"),
    subject: header("subject"),
    text: textOf(mail).replace(/\r\n/g, "\n").replace(/\n+$/, ""),
  };
}

/** Splits headers from body at the first empty line, and unfolds continued header lines. */
function entityOf(raw: string): Entity {
  const blank = /\r?\n\r?\n/.exec(raw);
  const head = blank === null ? raw : raw.slice(0, blank.index);
  const body = blank === null ? "" : raw.slice(blank.index + blank[0].length);
  const headers = new Map<string, string>();
  // A line that starts with white space continues the header above it.
  for (const line of head.replace(/\r?\n(?=[ \t])/g, "").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** A header's parameter: `boundary` of `multipart/mixed; boundary="abc"` is `abc`. */
function parameter(value: string, name: string): string | undefined {
  const match = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(value);
  return match === null ? undefined : (match[1] ?? match[2]);
}

/** The text of an entity: its body if text/plain, else that of its first text/plain part. */
function textOf(entity: Entity, depth = 0): string {
  const type = entity.headers.get("content-type") ?? "text/plain";
  const boundary = parameter(type, "boundary");
  if (/^multipart\//i.test(type) && boundary !== undefined && depth < 5) {
    const parts = entity.body.split(`--${boundary}`).slice(1);
    for (const part of parts) {
      if (part.startsWith("--")) break; // the closing delimiter
      const child = entityOf(part.replace(/^\r?\n/, ""));
      const childType = child.headers.get("content-type") ?? "text/plain";
      if (/^(text\/plain|multipart\/)/i.test(childType)) {
        const text = textOf(child, depth + 1);
        if (text !== "") return text;
      }
    }
    return "";
  }
  const encoding = (entity.headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  const charset = parameter(type, "charset") ?? "utf-8";
  if (encoding === "base64") return decode(Buffer.from(entity.body, "base64"), charset);
  if (encoding === "quoted-printable") return decode(quotedPrintable(entity.body), charset);
  return entity.body;
}

/** The bytes of a quoted-printable text: `=41` is `A`, `=` at a line end joins lines. */
function quotedPrintable(text: string): Buffer {
  // White space at a line's end was added in transit (RFC 2045); before a soft break it is not.
  const joined = text.replace(/[ \t]+(?=\r?\n)/g, "").replace(/=\r?\n/g, "");
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i] ?? "", "utf8"));
    }
  }
  return Buffer.from(bytes);
}

/** Bytes in a charset; an unknown charset is read as UTF-8. */
function decode(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString("utf8");
  }
}

/** Decodes RFC 2047 encoded words: `=?UTF-8?Q?Caf=C3=A9?=` is `Café`. */
function decodeWords(value: string): string {
  // White space between two encoded words is not part of the text.
  const word = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g;
  return value
    .replace(/(\?=)\s+(?==\?)/g, "$1")
    .replace(word, (_all, charset: string, kind: string, data: string) => {
      const bytes =
        kind.toUpperCase() === "B"
          ? Buffer.from(data, "base64")
          : quotedPrintable(data.replace(/_/g, " "));
      return decode(bytes, charset);
    });
}

// Where the cluster secret comes from, and what a bad one does; and signed messages.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { clusterAuth, open, resolveSecret, seal } from "../../src/security/index.js";

describe("the cluster secret", () => {
  it("comes from the options, else FLOTILLA_SECRET, else FLOTILLA_SECRET_FILE", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "flotilla-secret-"));
    const file = path.join(dir, "secret");
    writeFileSync(file, "from a file, long enough\n");
    try {
      const text = (s: Uint8Array | undefined) => Buffer.from(s ?? []).toString();
      expect(text(resolveSecret({ secret: "from the options, long" }, {}))).toBe(
        "from the options, long",
      );
      expect(text(resolveSecret({}, { FLOTILLA_SECRET: "from the environment!" }))).toBe(
        "from the environment!",
      );
      expect(text(resolveSecret({}, { FLOTILLA_SECRET_FILE: file }))).toBe(
        "from a file, long enough",
      );
      expect(
        text(resolveSecret({ secretFile: file }, { FLOTILLA_SECRET: "ignored, ignored!" })),
      ).toBe("from a file, long enough");
      expect(resolveSecret({}, {})).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a short secret or an unreadable file, without showing the secret", () => {
    let error: unknown;
    try {
      resolveSecret({ secret: "hunter2" }, {});
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: "INVALID_SECRET" });
    expect(String((error as Error).message)).not.toContain("hunter2");
    expect(() => resolveSecret({ secretFile: "/nonexistent/secret" }, {})).toThrow(
      expect.objectContaining({ code: "INVALID_SECRET" }),
    );
  });
});

describe("signed messages", () => {
  const auth = clusterAuth(Buffer.from("a secret of enough bytes"), "shop");
  const packet = Buffer.from("packet");

  it("open to their signer and packet, and refuse other keys, namespaces and any change", () => {
    const message = seal(auth, "n1", packet);
    const opened = open(auth, message) as { from: string; packet: Uint8Array };
    expect(opened.from).toBe("n1");
    expect(Buffer.from(opened.packet).equals(packet)).toBe(true);
    const otherNamespace = clusterAuth(Buffer.from("a secret of enough bytes"), "other");
    expect(open(otherNamespace, message)).toEqual({ refused: "signature" });
    expect(open(clusterAuth(Buffer.from("another secret, enough"), "shop"), message)).toEqual({
      refused: "signature",
    });
    for (let i = 0; i < message.length; i++) {
      const altered = Buffer.from(message);
      altered[i] = (altered[i] ?? 0) ^ 1;
      expect(open(auth, altered)).toHaveProperty("refused");
    }
    expect(open(auth, packet)).toEqual({ refused: "unsigned" });
    expect(open(auth, new Uint8Array([0xf1, 200, 1]))).toEqual({ refused: "unsigned" });
  });
});

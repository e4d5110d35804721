import { describe, expect, it } from "vitest";
import { redact, resolveTarget } from "../../src/data/config.js";
import { driverErrorOf, keepDriverError, toDataError } from "../../src/data/errors.js";
import { ConflictError, DatabaseError } from "../../src/index.js";

/** An error shaped as pg's server errors are: a SQLSTATE code and a severity. */
function serverError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, severity: "ERROR" });
}

describe("database errors as callers see them", () => {
  it("answers a unique violation with CONFLICT and keeps the driver's text out of it", () => {
    const driver = serverError(
      "23505",
      'duplicate key value violates unique constraint "users_email_key"',
    );
    const err = toDataError(driver);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).status).toBe(409);
    expect(JSON.stringify({ ...(err as object), message: (err as Error).message })).not.toContain(
      "users_email_key",
    );
    expect((err as Error).cause).toBeUndefined();
    expect(driverErrorOf(keepDriverError(err, driver))).toBe(driver);
  });

  it.each([
    ["40001", true],
    ["40P01", true],
    ["57014", true],
    ["08006", true],
    ["42P01", false],
    ["23503", false],
  ])("marks SQLSTATE %s retryable: %s", (code, retryable) => {
    const err = toDataError(serverError(code, "x")) as DatabaseError;
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err.code).toBe("DB_ERROR");
    expect(err.retryable).toBe(retryable);
    expect(err.data).toEqual({ reason: code });
  });

  it("reads a socket error (EPIPE) as a lost connection, not as a SQLSTATE", () => {
    const err = toDataError(
      Object.assign(new Error("write EPIPE"), { code: "EPIPE" }),
    ) as DatabaseError;
    expect(err.code).toBe("DB_ERROR");
    expect(err.retryable).toBe(true);
    expect(err.data).toEqual({ reason: "EPIPE" });
  });

  it("maps SQLite's unique and busy codes", () => {
    const sqlite = (code: string) =>
      Object.assign(new Error("UNIQUE constraint failed: users.email"), {
        code,
        name: "SqliteError",
      });
    expect(toDataError(sqlite("SQLITE_CONSTRAINT_UNIQUE"))).toBeInstanceOf(ConflictError);
    const busy = toDataError(sqlite("SQLITE_BUSY")) as DatabaseError;
    expect(busy.retryable).toBe(true);
    expect(busy.message).not.toContain("users.email");
  });
});

describe("database URLs in logs", () => {
  it.each([
    ["postgres://app:s3cret@db:5432/shop", "postgres://app:***@db:5432/shop"],
    ["postgres://app:p@ss@db:5432/shop", "postgres://app:***@db:5432/shop"],
    ["postgres://app@db/shop", "postgres://app@db/shop"],
  ])("redacts %s", (url, shown) => {
    expect(redact(url)).toBe(shown);
  });

  it("refuses a URL it does not know, without printing its password", () => {
    expect(() =>
      resolveTarget("users", { url: "mysql://root:hunter2@db/x" }, undefined, {}),
    ).toThrow(
      expect.objectContaining({
        code: "INVALID_DATABASE_URL",
        message: expect.not.stringContaining("hunter2"),
      }),
    );
  });
});

import { readFileSync } from "node:fs";
import {
  errorCatalogue,
  errorFromPlain,
  errorToPlain,
  FlotillaError,
  RequestTimeoutError,
  registerErrorClass,
  ValidationError,
} from "flotilla";
import { describe, expect, it } from "vitest";

class OutOfStockError extends FlotillaError {
  constructor(sku: string) {
    super(`${sku} is out of stock`, "OUT_OF_STOCK", 409, { data: { sku } });
  }
}
registerErrorClass(OutOfStockError);

/** Plain data survives JSON, as it must to cross the wire. */
const roundTrip = (err: unknown) => errorFromPlain(JSON.parse(JSON.stringify(errorToPlain(err))));

describe("errors", () => {
  it("every catalogued error is rebuilt as the same class with the same fields", () => {
    const original = new ValidationError("bad", [
      { path: ["items", 0, "qty"], message: "too small" },
    ]);
    const rebuilt = roundTrip(original);
    expect(rebuilt).toBeInstanceOf(ValidationError);
    expect(rebuilt).toBeInstanceOf(FlotillaError);
    expect(rebuilt).toBeInstanceOf(Error);
    expect(rebuilt).toMatchObject({
      name: "ValidationError",
      message: "bad",
      code: "VALIDATION_ERROR",
      status: 422,
      retryable: false,
      data: [{ path: ["items", 0, "qty"], message: "too small" }],
    });
    expect(roundTrip(new RequestTimeoutError("a.b", 5))).toBeInstanceOf(RequestTimeoutError);
  });

  it("rebuilds a registered custom class, and its cause", () => {
    const err = new FlotillaError("could not place order", "ORDER_FAILED", 500, {
      cause: new OutOfStockError("A-1"),
    });
    const rebuilt = roundTrip(err);
    expect(rebuilt.cause).toBeInstanceOf(OutOfStockError);
    expect(rebuilt.cause).toMatchObject({
      code: "OUT_OF_STOCK",
      status: 409,
      data: { sku: "A-1" },
    });
  });

  it("turns a plain Error into INTERNAL_ERROR keeping its name and message", () => {
    const rebuilt = roundTrip(new TypeError("x is not a function"));
    expect(rebuilt).toBeInstanceOf(FlotillaError);
    expect(rebuilt).toMatchObject({
      name: "TypeError",
      message: "x is not a function",
      code: "INTERNAL_ERROR",
      status: 500,
    });
    expect(roundTrip("a string").message).toBe("a string");
  });

  it("docs/errors.md lists exactly the catalogue, with the same codes and statuses", () => {
    const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
    const rows = doc
      .split("\n")
      .filter((line) => /^\| `\w+Error` +\|/.test(line))
      .map((line) => {
        const [name, code, status, retryable] = line
          .split("|")
          .slice(1, 5)
          .map((c) => c.trim().replaceAll("`", ""));
        return { name, code, status: Number(status), retryable: retryable === "yes" };
      });
    expect(rows).toEqual(
      errorCatalogue.map(({ name, code, status, retryable }) => ({
        name,
        code,
        status,
        retryable,
      })),
    );
  });
});

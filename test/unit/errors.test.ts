import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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
  it.each([
    {
      what: "a catalogued error as the same class with the same fields",
      error: new ValidationError("bad", [{ path: ["items", 0, "qty"], message: "too small" }]),
      type: ValidationError,
      fields: {
        name: "ValidationError",
        message: "bad",
        code: "VALIDATION_ERROR",
        status: 422,
        retryable: false,
        data: [{ path: ["items", 0, "qty"], message: "too small" }],
      },
    },
    {
      what: "a catalogued error with its own constructor arguments",
      error: new RequestTimeoutError("a.b", 5),
      type: RequestTimeoutError,
      fields: { name: "RequestTimeoutError", code: "REQUEST_TIMEOUT", status: 504 },
    },
    {
      what: "a registered custom class",
      error: new OutOfStockError("A-1"),
      type: OutOfStockError,
      fields: { message: "A-1 is out of stock", code: "OUT_OF_STOCK", data: { sku: "A-1" } },
    },
    {
      what: "a plain Error as INTERNAL_ERROR keeping its name and message",
      error: new TypeError("x is not a function"),
      type: FlotillaError,
      fields: {
        name: "TypeError",
        message: "x is not a function",
        code: "INTERNAL_ERROR",
        status: 500,
      },
    },
    {
      what: "a thrown string as INTERNAL_ERROR with the string as its message",
      error: "a string",
      type: FlotillaError,
      fields: { message: "a string", code: "INTERNAL_ERROR", status: 500 },
    },
  ])("rebuilds $what", ({ error, type, fields }) => {
    const rebuilt = roundTrip(error);
    expect(rebuilt).toBeInstanceOf(type);
    expect(rebuilt).toBeInstanceOf(FlotillaError);
    expect(rebuilt).toBeInstanceOf(Error);
    expect(rebuilt).toMatchObject(fields);
  });

  it("rebuilds the cause of an error, as its own class", () => {
    const err = new FlotillaError("could not place order", "ORDER_FAILED", 500, {
      cause: new OutOfStockError("A-1"),
    });
    const rebuilt = roundTrip(err);
    expect(rebuilt).toMatchObject({ code: "ORDER_FAILED", message: "could not place order" });
    expect(rebuilt.cause).toBeInstanceOf(OutOfStockError);
    expect(rebuilt.cause).toMatchObject({
      code: "OUT_OF_STOCK",
      status: 409,
      data: { sku: "A-1" },
    });
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

  it("every code raised in src/ has its class in the catalogue: no ad-hoc FlotillaError", () => {
    const root = fileURLToPath(new URL("../../src/", import.meta.url));
    const offenders = readdirSync(root, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts") && !file.startsWith("errors"))
      .filter((file) => readFileSync(join(root, file), "utf8").includes("new FlotillaError("));
    expect(offenders).toEqual([]);
  });
});

describe("errors of another copy of Flotilla in the same process", () => {
  it("are FlotillaErrors, and their subclasses match by name; other errors do not", async () => {
    // The built package (dist/, made by `npm test` before the tests) is a second copy beside the
    // src/ the tests import: what a service file that resolves `flotilla` elsewhere loads.
    const url = new URL("../../dist/errors/index.js", import.meta.url).href;
    const other = (await import(
      /* @vite-ignore */ url
    )) as typeof import("../../src/errors/index.js");
    expect(other.FlotillaError).not.toBe(FlotillaError);
    const foreign = new other.ValidationError("bad", []);
    expect(foreign).toBeInstanceOf(FlotillaError);
    expect(foreign).toBeInstanceOf(ValidationError);
    expect(foreign).not.toBeInstanceOf(RequestTimeoutError);
    expect(errorToPlain(foreign)).toMatchObject({ code: "VALIDATION_ERROR", status: 422 });
    expect(new Error("plain")).not.toBeInstanceOf(FlotillaError);
    expect({ name: "ValidationError" }).not.toBeInstanceOf(ValidationError);
  });
});

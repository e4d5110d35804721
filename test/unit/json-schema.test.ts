import { defineService, jsonSchemaGap, type Logger, withJSONSchema } from "flotilla";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { startBroker } from "../helpers.js";

/** A logger that keeps its warnings. */
function recordingLogger(warnings: string[]): Logger {
  const logger = {
    warn: (_obj: unknown, msg?: string) => void warnings.push(msg ?? ""),
    child: () => logger,
    info: () => {},
    debug: () => {},
    error: () => {},
    trace: () => {},
    fatal: () => {},
    level: "info",
  };
  return logger as unknown as Logger;
}

describe("JSON Schema of params", () => {
  const Params = v.object({ id: v.number() });

  it("names the library of a schema that cannot describe itself (valibot), not zod's", () => {
    expect(jsonSchemaGap(Params)).toBe("valibot");
    expect(jsonSchemaGap(z.object({ id: z.number() }))).toBeUndefined();
    expect(jsonSchemaGap(undefined)).toBeUndefined();
  });

  it("warns at createService instead of dropping valibot params from OpenAPI silently", async () => {
    const warnings: string[] = [];
    const broker = await startBroker(
      defineService({
        name: "things",
        actions: { get: { params: Params, rest: "GET /things/:id", handler: () => 1 } },
      }),
      { logger: recordingLogger(warnings) },
    );
    expect(warnings).toEqual([expect.stringMatching(/params schema of 'things.get' \(valibot\)/)]);
    expect(broker.registry.catalog()[0]?.params).toBeUndefined();
  });

  it("withJSONSchema gives any Standard Schema a JSON Schema, and it still validates", async () => {
    const warnings: string[] = [];
    const json = {
      type: "object",
      properties: { id: { type: "number" } },
      required: ["id"],
    };
    const broker = await startBroker(
      defineService({
        name: "things",
        actions: {
          get: {
            params: withJSONSchema(Params, json),
            handler: (ctx) => ctx.params.id + 1, // still typed by valibot
          },
        },
      }),
      { logger: recordingLogger(warnings) },
    );
    expect(warnings).toEqual([]);
    expect(broker.registry.catalog()[0]?.params).toEqual(json);
    await expect(broker.call("things.get", { id: 1 })).resolves.toBe(2);
    await expect(broker.call("things.get", { id: "x" })).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
    });
  });
});

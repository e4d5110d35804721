import { describe, expect, it } from "vitest";
import { MissingDependencyError } from "../../src/errors/index.js";
import { optionalDependency, optionalDependencySync } from "../../src/util/optional.js";

// The one loader of optional packages (broker clients, msgpackr). Each transporter's own test
// checks its package end to end (`runWithout`); these check the loader's rules once.
const missing = "flotilla-test-no-such-package";

describe("optional packages", () => {
  it("a package that is not installed fails with MISSING_DEPENDENCY and the line to run", async () => {
    const load = optionalDependency(missing, "The test transporter", () => import(missing));
    const err = await load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingDependencyError);
    expect(err).toMatchObject({
      code: "MISSING_DEPENDENCY",
      status: 500,
      data: { package: missing },
    });
    expect((err as Error).message.split("\n")).toContain(`npm install ${missing}`);
  });

  it("the synchronous variant says the same, for what a constructor needs", () => {
    const load = optionalDependencySync(missing, "The test serializer");
    expect(load).toThrow(MissingDependencyError);
    expect(load).toThrow(`The test serializer needs the '${missing}' package`);
    // What is installed loads, once.
    const zod = optionalDependencySync<{ z: unknown }>("zod", "Schemas");
    expect(zod()).toBe(zod());
    expect(zod().z).toBeDefined();
  });

  it("an error inside an installed package passes on as it is: npm install would not fix it", async () => {
    const broken = new Error("SyntaxError in the package");
    const load = optionalDependency("ioredis", "The redis transporter", () =>
      Promise.reject(broken),
    );
    await expect(load()).rejects.toBe(broken);
  });

  it("forgets a failure, so a package installed later is found", async () => {
    let attempts = 0;
    const load = optionalDependency(missing, "The test transporter", async () => {
      attempts += 1;
      if (attempts === 1)
        throw Object.assign(new Error(`Cannot find package '${missing}'`), {
          code: "ERR_MODULE_NOT_FOUND",
        });
      return "loaded";
    });
    await expect(load()).rejects.toMatchObject({ code: "MISSING_DEPENDENCY" });
    await expect(load()).resolves.toBe("loaded");
  });
});

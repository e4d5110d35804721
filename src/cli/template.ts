/** What `flotilla new` needs to know to write a project. */
export interface ProjectSettings {
  /** The npm package name. */
  name: string;
  /** The `flotilla` dependency spec: a range, or `file:` to a folder or tarball. */
  flotilla: string;
  /** Version ranges Flotilla itself is built and tested with (zod, vitest, typescript, ...). */
  versions: Record<string, string>;
}

/** Ranges used when this package does not list one (it is installed without its dev tools). */
const FALLBACK: Record<string, string> = {
  zod: "^4.0.0",
  vitest: "^4.0.0",
  typescript: "^5.9.0",
  tsx: "^4.20.0",
  "@types/node": "^20.19.0",
};

/** The files of a new project, by path: two services, a test, configuration and a README. */
export function projectFiles(s: ProjectSettings): Record<string, string> {
  const v = (pkg: string) => s.versions[pkg] ?? FALLBACK[pkg]!;
  const pkg = {
    name: s.name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: {
      start: "flotilla run services.ts",
      test: "vitest run",
      typecheck: "tsc --noEmit",
    },
    dependencies: { flotilla: s.flotilla, zod: v("zod") },
    // tsx loads .ts files on Node 20, which cannot strip types itself.
    devDependencies: {
      "@types/node": v("@types/node"),
      tsx: v("tsx"),
      typescript: v("typescript"),
      vitest: v("vitest"),
    },
  };
  const tsconfig = {
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      lib: ["ES2023"],
      types: ["node"],
      strict: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      noEmit: true,
    },
    include: ["*.ts"],
  };
  return {
    "package.json": `${JSON.stringify(pkg, null, 2)}\n`,
    "tsconfig.json": `${JSON.stringify(tsconfig, null, 2)}\n`,
    ".gitignore": "node_modules/\ncoverage/\n",
    "services.ts": SERVICES,
    "services.test.ts": TEST,
    "README.md": readme(s.name),
  };
}

const SERVICES = `import { defineService } from "flotilla";
import { z } from "zod";

/** Adds two numbers. */
export const math = defineService({
  name: "math",
  actions: {
    add: {
      params: z.object({ a: z.number(), b: z.number() }),
      async handler(ctx) {
        return ctx.params.a + ctx.params.b;
      },
    },
  },
});

/** Greets people with a lucky number it gets from the math service (wherever that runs). */
export const greeter = defineService({
  name: "greeter",
  dependencies: ["math"],
  actions: {
    welcome: {
      params: z.object({ name: z.string().min(1) }),
      // Written out: a handler that calls a service listed in \`Services\` must not have its
      // return type inferred from its own body.
      async handler(ctx): Promise<string> {
        const lucky = await ctx.call("math.add", { a: ctx.params.name.length, b: 40 });
        return \`Welcome, \${ctx.params.name}! Your lucky number is \${lucky}.\`;
      },
    },
  },
});

// Makes ctx.call and broker.call check action names, params and results.
declare module "flotilla" {
  interface Services {
    math: typeof math;
    greeter: typeof greeter;
  }
}

// \`flotilla run services.ts\` runs the services of the default export.
export default [math, greeter];
`;

const TEST = `import { createTestBroker, mockAction } from "flotilla/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greeter, math } from "./services.js";

describe("greeter", () => {
  const broker = createTestBroker();
  broker.createService(math);
  broker.createService(greeter);
  beforeAll(() => broker.start());
  afterAll(() => broker.stop());

  it("welcomes people with a lucky number", async () => {
    const text = await broker.call("greeter.welcome", { name: "Ada" });
    expect(text).toBe("Welcome, Ada! Your lucky number is 43.");
  });

  it("gets the number from math.add", async () => {
    const add = mockAction(broker, "math.add", 7);
    try {
      expect(await broker.call("greeter.welcome", { name: "Ada" })).toMatch(/number is 7\\./);
      expect(add.calls[0]?.params).toEqual({ a: 3, b: 40 });
    } finally {
      add.restore();
    }
  });

  it("refuses an empty name", async () => {
    await expect(broker.call("greeter.welcome", { name: "" })).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
    });
  });
});
`;

function readme(name: string): string {
  return `# ${name}

Two [Flotilla](https://www.npmjs.com/package/flotilla) services in \`services.ts\`: \`math\` adds
numbers, \`greeter\` welcomes people with a lucky number it gets from \`math\`.

\`\`\`sh
npm install
npm test            # vitest: services.test.ts, with flotilla/testing
npm run typecheck   # tsc
npm start           # flotilla run services.ts: one node with both services
\`\`\`

With \`npm start\` running, from another terminal in this folder:

\`\`\`sh
npx flotilla actions                              # what the cluster offers
npx flotilla call greeter.welcome --name Ada      # "Welcome, Ada! Your lucky number is 43."
npx flotilla call math.add '{"a": 1, "b": 2}'     # 3
\`\`\`

Each service can also run in its own process: split \`services.ts\` into one file per service and
run \`npx flotilla run math.ts\` and \`npx flotilla run greeter.ts\` in two terminals; they find
each other on this machine with no broker. \`npx flotilla --help\` lists every command.
`;
}

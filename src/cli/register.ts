// `node --import flotilla/register main.mts`: lets Node load the project's `.ts` files as
// `flotilla run` does (Node's own type stripping where it has it, else tsx; `import`/`export`
// files as ES modules whatever the project's "type"; `./services.js` finds `./services.ts`).
import { enableTypeScript } from "./typescript.js";

await enableTypeScript();

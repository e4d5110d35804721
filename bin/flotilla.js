#!/usr/bin/env node
// The `flotilla` command; the implementation is compiled to dist/cli.
import { main } from "../dist/cli/index.js";

process.exitCode = await main(process.argv.slice(2));

#!/usr/bin/env node
// The `flotilla` command; the implementation is compiled to dist/cli.
import { main } from "../dist/cli/index.js";

const args = process.argv.slice(2);
process.exitCode = await main(args);
// An interactive shell is over when its session is (its node has left by now): whatever the
// terminal left behind (stdin in raw mode, a pending read) must not keep the process alive.
if (args[0] === "shell") process.exit();

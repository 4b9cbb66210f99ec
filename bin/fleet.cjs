#!/usr/bin/env node
// Launcher for the `fleet` CLI: checks the Node version, then runs the TypeScript sources via tsx.
"use strict";
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(
    `fleet: Node.js ${process.versions.node} is too old (22 or newer needed). ` +
      "Run it through npm (`npx fleet ...`), which uses the project's Node 24 from node_modules/.bin.\n",
  );
  process.exit(2);
}
require("tsx/cjs");
const { main } = require("../cli/cli.ts");
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`fleet: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);

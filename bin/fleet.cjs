#!/usr/bin/env node
// Launcher for the `fleet` CLI: checks the Node version, then runs the TypeScript sources via tsx.
// Whatever escapes the CLI ends here as one line and an exit code (FLEET_DEBUG=1 adds the stack).
"use strict";
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(
    `fleet: Node.js ${process.versions.node} is too old (22 or newer needed). ` +
      "Run it through npm (`npx fleet ...`), which uses the project's Node 24 from node_modules/.bin.\n",
  );
  process.exit(2);
}
const oneLine = (err) => (process.env.FLEET_DEBUG && err && err.stack ? err.stack : err && err.message ? err.message : String(err));
let main;
try {
  require("tsx/cjs");
  ({ main } = require("../cli/cli.ts"));
} catch (err) {
  process.stderr.write(`fleet: cannot load the CLI (${oneLine(err).split("\n")[0]}): run \`npm install\` in the project first\n`);
  process.exit(1);
}
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`fleet: ${oneLine(err)}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env node
// fleet-lab launcher: runs lab/cli.ts through tsx (no build step).
"use strict";
require("tsx/cjs");
const { main } = require("../lab/cli.ts");
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);

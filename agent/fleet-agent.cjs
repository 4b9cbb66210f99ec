#!/usr/bin/env node
// Launcher of the self-upgrade agent (the systemd unit's ExecStart): checks the Node version,
// then runs agent/agent.ts via tsx. Exit 0 after an upgrade: systemd (Restart=always) starts it
// again, now next to the new version.
"use strict";
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(`fleet-agent: Node.js ${process.versions.node} is too old (22 or newer needed)\n`);
  process.exit(2);
}
require("tsx/cjs");
const { agentMain } = require("./agent.ts");
agentMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`fleet-agent: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);

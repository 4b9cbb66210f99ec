#!/usr/bin/env node
// npm links the bins of dependencies into node_modules/.bin, but not the project's own; this
// links `fleet` and `fleet-lab` there too, so `npx fleet ...` and `npx fleet-lab ...` work in a clone.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const root = path.resolve(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const binDir = path.join(root, "node_modules", ".bin");
fs.mkdirSync(binDir, { recursive: true });
for (const [name, target] of Object.entries(pkg.bin || {})) {
  const link = path.join(binDir, name);
  const rel = path.relative(binDir, path.join(root, target));
  try {
    fs.rmSync(link, { force: true });
    fs.symlinkSync(rel, link);
  } catch (err) {
    process.stderr.write(`link-bins: could not link ${name}: ${err.message}\n`);
  }
}

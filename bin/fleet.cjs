#!/usr/bin/env node
// Launcher for the `fleet` CLI: the TypeScript sources run through tsx (no build step).
"use strict";
require("./launch.cjs")("fleet", "../cli/cli.ts");

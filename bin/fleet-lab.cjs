#!/usr/bin/env node
// Launcher for `fleet-lab`: lab/cli.ts runs through tsx (no build step).
"use strict";
require("./launch.cjs")("fleet-lab", "../lab/cli.ts");

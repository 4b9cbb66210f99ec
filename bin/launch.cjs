// The launchers' common part: check the Node version, load a CLI's TypeScript through tsx, run it,
// and end whatever escapes it as one line and an exit code (FLEET_DEBUG=1 adds the stack trace).
"use strict";
const path = require("node:path");

module.exports = function launch(name, entry) {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 22) {
    process.stderr.write(
      `${name}: Node.js ${process.versions.node} is too old (22 or newer needed). ` +
        `Run it through npm (\`npx ${name} ...\`), which uses the project's Node 24 from node_modules/.bin.\n`,
    );
    process.exit(2);
  }
  const oneLine = (err) => (process.env.FLEET_DEBUG && err && err.stack ? err.stack : err && err.message ? err.message : String(err));
  let main;
  try {
    require("tsx/cjs");
    ({ main } = require(path.join(__dirname, entry)));
  } catch (err) {
    process.stderr.write(`${name}: cannot load ${entry} (${oneLine(err).split("\n")[0]}): run \`npm install\` in the project first\n`);
    process.exit(1);
  }
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`${name}: ${oneLine(err)}\n`);
      process.exitCode = 1;
    },
  );
};

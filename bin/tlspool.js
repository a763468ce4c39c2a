#!/usr/bin/env node
'use strict';
// The `tlspool` command; the code is compiled TypeScript under dist/.
const path = require('node:path');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
let cli;
try {
  cli = require(entry);
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND') {
    const missing = /Cannot find module '([^']+)'/.exec(String(e.message));
    const what = missing && missing[1] === entry ? 'not built yet' : `a dependency is missing (${missing ? missing[1] : e.message})`;
    console.error(`tlspool: ${what}; run: npm run setup`);
    process.exit(1);
  }
  if (e && e.code === 'ELIBACC') {
    console.error(`tlspool: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
// Exit only once stdout has taken everything: into a pipe, process.stdout
// writes asynchronously, and exiting at once cut long output (such as
// `connections --json`) at 64 KiB boundaries.
function exitAfterFlush(code) {
  process.stdout.write('', () => process.exit(code));
}
cli.main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code ?? 0),
  (err) => {
    console.error(`tlspool: ${err && err.message ? err.message : String(err)}`);
    exitAfterFlush(1);
  },
);

#!/usr/bin/env node
'use strict';
// The `tlspool` command; the code is compiled TypeScript under dist/.
let cli;
try {
  cli = require('../dist/daemon/src/cli/main.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && /cli[\\/]main/.test(String(e.message))) {
    console.error('tlspool: not built yet; run: npm run setup');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code ?? 0),
  (err) => {
    console.error(`tlspool: ${err && err.message ? err.message : String(err)}`);
    process.exit(1);
  },
);

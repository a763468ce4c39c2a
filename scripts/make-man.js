#!/usr/bin/env node
// Writes the man pages into dist/man (man1/tlspool.1, man5/tlspool.conf.5),
// from the compiled command specs and docs/configuration.md. Run by
// `npm run build:ts`, so they are as new as the code. The date in the pages
// is $SOURCE_DATE_EPOCH's, for reproducible builds, or today's.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const { writeManPages } = require(path.join(root, 'dist', 'src', 'cli', 'man', 'write.js'));
for (const file of writeManPages(path.join(root, 'dist', 'man'))) fs.accessSync(file);

#!/usr/bin/env node
'use strict';

// The fleetctl command: the compiled CLI in ../dist (npm run build at the repository's root).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('fleetctl is not built: run npm run build at the repository root\n');
  process.exitCode = 1;
} else {
  require(main);
}

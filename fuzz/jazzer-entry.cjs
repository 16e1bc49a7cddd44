'use strict';
// Jazzer.js loads its target with import(), which tsx turns into a CommonJS module without named
// exports; requiring the TypeScript target from here keeps it on the CommonJS path, where Jazzer.js's
// require hook instruments it (and every workspace module it loads) for coverage.
/* eslint-disable @typescript-eslint/no-require-imports */
const { resolve } = require('node:path');

const target = process.env.FUZZ_TARGET;
if (!target) throw new Error('FUZZ_TARGET is not set (fuzz/targets/<name>.fuzz.ts)');
const { fuzz } = require(resolve(target));
// Spelled out so that import() sees a named export.
module.exports.fuzz = fuzz;

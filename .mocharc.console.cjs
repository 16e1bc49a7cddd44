'use strict';

// The console's browser tests alone (npm run test:console, npm run console:screenshots): headless
// Chromium against the all-in-one server on SQLite, so neither Elasticsearch nor Redis is started.
// The rest is .mocharc.cjs's.
module.exports = {
  spec: ['services/all-in-one/test/console-security.test.ts', 'services/all-in-one/test/console-e2e.test.ts'],
  extension: ['ts'],
  'node-option': ['conditions=@fleet/source', 'import=tsx'],
  timeout: 30000,
  reporter: 'spec',
};

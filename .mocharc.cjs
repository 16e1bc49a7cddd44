'use strict';

// Tests run on the TypeScript sources: the @fleet/source export condition resolves workspace
// packages to src/, and tsx compiles on the fly. Type checking is `npm run typecheck`.
module.exports = {
  spec: ['libs/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts'],
  extension: ['ts'],
  // Real servers for the suites: a redis-server (Debian's) and an Elasticsearch node.
  require: ['libs/notifications/test/support/redis-server.ts', 'libs/store/test/support/elasticsearch-node.ts'],
  'node-option': ['conditions=@fleet/source', 'import=tsx'],
  timeout: 30000,
  reporter: 'spec',
};

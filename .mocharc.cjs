'use strict';

// Tests run on the TypeScript sources: the @fleet/source export condition resolves workspace
// packages to src/, and tsx compiles on the fly. Type checking is `npm run typecheck`.
module.exports = {
  spec: ['libs/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts'],
  extension: ['ts'],
  // Provisions a real Elasticsearch node for the suites (or uses FLEET_ES_URL when set).
  require: ['libs/store/test/support/elasticsearch-node.ts'],
  'node-option': ['conditions=@fleet/source', 'import=tsx'],
  timeout: 30000,
  reporter: 'spec',
};

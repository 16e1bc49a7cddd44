'use strict';

// `npm run faults`: the whole fault matrix (toxiproxy between the replicas and Elasticsearch and
// Redis) and the three-node cluster losing a node, on larger fleets than the CI short form. The
// tables land in FLEET_FAULT_REPORT_DIR (default data/faults) for docs/reliability.md. The rest is
// .mocharc.cjs's.
module.exports = {
  spec: ['services/all-in-one/test/fault-injection.test.ts', 'services/all-in-one/test/elasticsearch-cluster.test.ts'],
  extension: ['ts'],
  require: ['libs/notifications/test/support/redis-server.ts', 'libs/store/test/support/elasticsearch-node.ts'],
  'node-option': ['conditions=@fleet/source', 'import=tsx'],
  timeout: 1800000,
  reporter: 'spec',
};

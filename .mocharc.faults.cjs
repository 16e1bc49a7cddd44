'use strict';

// `npm run faults`: the whole fault matrix (toxiproxy between the replicas and Elasticsearch and
// Redis) and the three-node cluster losing a node, on larger fleets than the CI short form. The
// tables land in FLEET_FAULT_REPORT_DIR (default data/faults) for docs/reliability.md.
const base = require('./.mocharc.cjs');

module.exports = {
  ...base,
  spec: ['services/all-in-one/test/fault-injection.test.ts', 'services/all-in-one/test/elasticsearch-cluster.test.ts'],
  timeout: 1800000,
};

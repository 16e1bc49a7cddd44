// The Elasticsearch test node's helpers live with the store's tests; the service suites share them.
export { adminGet, wipeFleetIndices } from '../../../../libs/store/test/support/elasticsearch-env';

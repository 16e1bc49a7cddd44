import type { Client } from '@elastic/elasticsearch';
import { OUTPUT_HEALTH_DATA_STREAM, type OutputHealthDoc, type OutputHealthStore } from '../output-health';

/**
 * Output health on Elasticsearch: the `logs-fleet_server.output_health-default` data stream,
 * written with op_type create (a data stream takes nothing else), as the reference does. The
 * `elastic/fleet-server` service account has `auto_configure` and `create_doc` on `logs-*`.
 */
export function createEsOutputHealthStore(client: Client, guard: <T>(fn: () => Promise<T>) => Promise<T>): OutputHealthStore {
  return {
    write: (doc: OutputHealthDoc) =>
      guard(async () => {
        await client.index({ index: OUTPUT_HEALTH_DATA_STREAM, op_type: 'create', document: doc, refresh: 'wait_for' });
      }),
  };
}

/**
 * The `store.outputHealth` part of the store contract: run for each backend with a reader that
 * sees the documents as Kibana would (the service account may not read `logs-*`).
 */
import { expect } from 'chai';
import { outputHealthDoc, type FleetStore, type OutputHealthDoc } from '@fleet/store';

export function defineOutputHealthContract(store: () => FleetStore, read: (output: string) => Promise<OutputHealthDoc[]>): void {
  describe('outputHealth', function () {
    it('When health documents are written, then each is kept as written, newest first, per output', async () => {
      const t0 = Date.parse('2026-01-01T00:00:00.000Z');
      await store().outputHealth.write(outputHealthDoc('remote-a', 'HEALTHY', '', new Date(t0)));
      await store().outputHealth.write(outputHealthDoc('remote-a', 'DEGRADED', 'remote Elasticsearch output unreachable: ConnectionError', new Date(t0 + 1000)));
      await store().outputHealth.write(outputHealthDoc('remote-b', 'HEALTHY', '', new Date(t0 + 2000)));
      const a = await read('remote-a');
      expect(a.map((d) => d.state)).to.deep.equal(['DEGRADED', 'HEALTHY']);
      expect(a[0]).to.deep.equal({
        '@timestamp': new Date(t0 + 1000).toISOString(),
        output: 'remote-a',
        state: 'DEGRADED',
        message: 'remote Elasticsearch output unreachable: ConnectionError',
        data_stream: { type: 'logs', dataset: 'fleet_server.output_health', namespace: 'default' },
      });
      expect((await read('remote-b')).map((d) => d.state)).to.deep.equal(['HEALTHY']);
    });
  });
}

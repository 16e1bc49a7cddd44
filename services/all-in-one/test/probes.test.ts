import { expect } from 'chai';
import request from 'supertest';
import { startHarness, type Harness } from './support/fleet-server-harness';

describe('Probes (/livez, /readyz)', function () {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h.stop());

  it('When the process runs and its store answers, then /livez and /readyz answer 200', async () => {
    expect((await request(h.url).get('/livez').expect(200)).body).to.deep.equal({ status: 'alive' });
    expect((await request(h.url).get('/readyz').expect(200)).body).to.deep.equal({ status: 'HEALTHY' });
  });

  it('When the process starts shutting down, then /readyz answers 503 STOPPING in the error shape while /livez stays 200', async () => {
    h.server.gateway.drain();
    const res = await request(h.url).get('/readyz').expect(503);
    expect(res.body).to.deep.equal({ statusCode: 503, error: 'Service Unavailable', message: 'not ready: STOPPING', status: 'STOPPING' });
    await request(h.url).get('/livez').expect(200);
  });
});

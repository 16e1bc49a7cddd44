/**
 * `npm run bench:body`: what the nesting bound costs a checkin. Times `parseJsonObject` (the byte
 * scan for depth, then `JSON.parse`) against bare `JSON.parse`, its floor, on checkin bodies the
 * size a real agent sends (one to many components), in one process, one after the other.
 */
import { parseJsonObject } from '@fleet/service-kit';
import { cpus, totalmem } from 'node:os';
import { out } from './bench-report';

function checkinBody(components: number): Buffer {
  const unit = (i: number, kind: string) => ({ id: `filestream-default-${kind}-${i}`, type: kind, status: 'HEALTHY', message: 'Healthy', payload: { streams: { [`s-${i}`]: { status: 'HEALTHY', error: '' } } } });
  const body = {
    status: 'online',
    message: 'Running',
    ack_token: '6f1b0c1e-4c1b-4d5e-9a53-0c8f3d1f2a10',
    local_metadata: {
      elastic: { agent: { id: '0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f', version: '9.0.1', snapshot: false, upgradeable: true, log_level: 'info', complete: false } },
      host: { hostname: 'web-01', name: 'web-01', architecture: 'x86_64', id: 'f1e2d3c4b5a6', ip: ['10.0.0.12/24', 'fe80::1/64'], mac: ['02:42:ac:11:00:02'] },
      os: { family: 'debian', name: 'Debian GNU/Linux', platform: 'debian', version: '12 (bookworm)', kernel: '6.1.0-28-amd64', full: 'Debian GNU/Linux 12 (bookworm)' },
    },
    components: Array.from({ length: components }, (_, i) => ({
      id: `filestream-default-${i}`,
      type: 'filestream',
      status: 'HEALTHY',
      message: "Healthy: communicating with pid '4242'",
      units: [unit(i, 'output'), unit(i, 'input')],
    })),
    agent_policy_id: 'fleet-default-policy',
    policy_revision_idx: 7,
  };
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function time(body: Buffer, fn: (b: Buffer) => unknown): number {
  const iterations = Math.max(2_000, Math.floor(40_000_000 / body.length));
  for (let i = 0; i < iterations / 10; i++) fn(body);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(body);
  const us = Number(process.hrtime.bigint() - start) / 1e3 / iterations;
  return us;
}

const rows: string[] = [];
for (const components of [1, 8, 64]) {
  const body = checkinBody(components);
  const floor = time(body, (b) => JSON.parse(b.toString('utf8')));
  const bounded = time(body, (b) => parseJsonObject(b));
  rows.push(
    `| ${components} | ${(body.length / 1024).toFixed(1)} KiB | ${floor.toFixed(1)} µs | ${bounded.toFixed(1)} µs | +${(bounded - floor).toFixed(1)} µs (${(((bounded - floor) / floor) * 100).toFixed(0)} %) |`,
  );
}
const machine = `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
out(`checkin body parsing: bare JSON.parse (the floor) vs parseJsonObject (depth scan, then parse); ${machine}\n`);
out('| Components | Body | JSON.parse | parseJsonObject | Cost of the bound |');
out('| --- | --- | --- | --- | --- |');
for (const row of rows) out(row);

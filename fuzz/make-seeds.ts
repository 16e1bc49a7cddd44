/**
 * Writes the committed seed corpus (fuzz/corpus/<target>/): a few valid requests per route in the
 * targets' byte layout (fuzz/support/fuzz-input.ts), so each run starts from inputs that get past
 * the first checks. Run it again after changing a target's routes:
 *   node --conditions=@fleet/source --import tsx fuzz/make-seeds.ts
 * Seeds that a long run found and that are worth keeping are added beside these (see fuzz/README.md).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeInput } from './support/fuzz-input';

const ROOT = resolve(__dirname, 'corpus');
const AGENT = '11111111-2222-4333-8444-555555555555';
const ACTION = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const NOW = '2026-11-30T00:00:00Z';
const json = (v: unknown) => JSON.stringify(v);

const localMetadata = {
  elastic: { agent: { id: AGENT, version: '9.1.0', snapshot: false, upgradeable: true, log_level: 'info' } },
  host: { hostname: 'web-1', name: 'web-1', architecture: 'x86_64', id: 'abc', ip: ['10.0.0.1'] },
  os: { family: 'debian', name: 'Debian', platform: 'debian', version: '12', kernel: '6.1.0' },
};
const components = [
  {
    id: 'log-default',
    type: 'log',
    status: 'HEALTHY',
    message: 'Healthy',
    units: [
      { id: 'log-default-logfile', type: 'input', status: 'DEGRADED', message: 'slow', payload: { streams: { a: { error: null } } } },
      { id: 'log-default', type: 'output', status: 'FAILED', message: 'down' },
    ],
  },
];
const checkin = {
  status: 'online',
  message: 'Running',
  ack_token: '1',
  local_metadata: localMetadata,
  components,
  poll_timeout: '5m0s',
  policy_revision_idx: 1,
  agent_policy_id: 'fleet-default-policy',
  upgrade_details: { target_version: '9.2.0', state: 'UPG_DOWNLOADING', action_id: ACTION, metadata: { download_percent: 42.5 } },
};

/** JSON nested `depth` deep around `inner` (Go's encoding/json stops at 10,000; a recursive walk may overflow). */
const deep = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
const DEEP = 10_000;

const seeds: Record<string, Record<string, Buffer>> = {
  'agent-routes': {
    'enroll': encodeInput(0, 0, json({ type: 'PERMANENT', metadata: { local: localMetadata, user_provided: {}, tags: ['a', 'b'] } })),
    'enroll-replace': encodeInput(0, 0, json({ type: 'PERMANENT', id: AGENT, replace_token: 'r'.repeat(20), enrollment_id: 'e-1', metadata: { local: localMetadata, user_provided: {}, tags: [] } })),
    'enroll-gzip': encodeInput(0, 1, json({ type: 'EPHEMERAL', metadata: { local: {}, user_provided: {}, tags: [] } })),
    'checkin': encodeInput(1, 0, json(checkin)),
    'checkin-minimal': encodeInput(1, 0, json({ status: 'online', message: '' })),
    'checkin-gzip': encodeInput(1, 1, json({ ...checkin, status: 'degraded', upgrade_details: { target_version: '9.2.0', state: 'UPG_FAILED', metadata: { error_msg: 'x', failed_state: 'UPG_DOWNLOADING', retry_until: NOW } } })),
    'checkin-nested': encodeInput(1, 0, '{"status":"online","local_metadata":' + '{"a":'.repeat(40) + '1' + '}'.repeat(40) + '}'),
    'checkin-deep-metadata': encodeInput(1, 0, `{"status":"online","local_metadata":{"a":${deep(DEEP)}}}`),
    'checkin-deep-payload': encodeInput(1, 0, `{"status":"online","components":[{"id":"c","type":"log","status":"HEALTHY","message":"","units":[{"id":"u","type":"input","status":"HEALTHY","message":"","payload":{"a":${deep(DEEP)}}}]}]}`),
    'checkin-deep-upgrade-details': encodeInput(1, 1, `{"status":"online","upgrade_details":{"target_version":"9.2.0","state":"UPG_DOWNLOADING","metadata":{"a":${deep(DEEP)}}}}`),
    'enroll-deep': encodeInput(0, 0, `{"type":"PERMANENT","metadata":{"local":{"a":${deep(DEEP)}},"user_provided":{},"tags":[]}}`),
    'acks': encodeInput(2, 0, json({ events: [{ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', agent_id: AGENT, action_id: ACTION, message: 'ok', timestamp: NOW }] })),
    'acks-policy': encodeInput(2, 0, json({ events: [{ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', action_id: 'policy:fleet-default-policy:2:1', timestamp: NOW }] })),
    'acks-upgrade-error': encodeInput(2, 0, json({ events: [{ type: 'ACTION_RESULT', subtype: 'ACKNOWLEDGED', action_id: ACTION, error: 'failed', payload: { retry: true, retry_attempt: 1 }, action_input_type: 'osquery', action_response: { osquery: { count: 2 } }, started_at: NOW, completed_at: NOW }] })),
    'audit-unenroll': encodeInput(3, 0, json({ reason: 'uninstall', timestamp: NOW })),
    'audit-orphaned': encodeInput(3, 0, json({ reason: 'orphaned', timestamp: NOW })),
    'checkin-path': encodeInput(4, 0, AGENT),
    'checkin-path-ff': encodeInput(4, 0, '%ff'),
  },
  'checkin-gzip': {
    'inflated-json': encodeInput(1, 0, json(checkin)),
    'inflated-minimal': encodeInput(1, 0, json({ status: 'online' })),
    'wrong-key': encodeInput(1, 1, json({ status: 'online' })),
    'raw-stream': encodeInput(0, 0, gzipSync(json({ status: 'online', message: 'raw' }))),
    'raw-truncated': encodeInput(0, 0, gzipSync(json(checkin)).subarray(0, 40)),
  },
  uploads: {
    'begin': encodeInput(0, 0, json({ action_id: ACTION, agent_id: AGENT, src: 'agent', file: { size: 1024, name: 'diag.zip', ext: 'zip', mime_type: 'application/zip', hash: { sha256: '', md5: '' } }, contents: null })),
    'chunk-good-sha': encodeInput(1, 1, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 7)])),
    'chunk-last': encodeInput(1, 1, Buffer.concat([Buffer.from([7]), Buffer.from('tail')])),
    'chunk-bad-sha': encodeInput(1, 0, Buffer.concat([Buffer.from([1]), Buffer.from('0'.repeat(64))])),
    'complete': encodeInput(2, 0, json({ transithash: { sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' } })),
    'chunk-path': encodeInput(3, 0, 'upload-1/12'),
  },
  'management-routes': {
    'policy-create': encodeInput(0, 0, json({ name: 'Linux servers', namespace: 'default', description: 'x', monitoring_enabled: ['logs', 'metrics'], unenroll_timeout: 3600, inactivity_timeout: 1209600 })),
    'policy-update': encodeInput(1, 0, json({ name: 'Renamed', namespace: 'prod', monitoring_enabled: [] })),
    'policy-delete': encodeInput(2, 0, json({ agentPolicyId: 'no-such-policy' })),
    'enrollment-key': encodeInput(3, 0, json({ policy_id: 'fleet-default-policy', name: 'linux' })),
    'action-unenroll': encodeInput(4, 0, json({ action: { type: 'UNENROLL' } })),
    'action-settings': encodeInput(4, 0, json({ action: { type: 'SETTINGS', data: { log_level: 'debug' }, expiration: '2030-01-01T00:00:00Z' } })),
    'policy-create-deep': encodeInput(0, 0, `{"name":"deep","namespace":"default","description":${deep(DEEP, '"x"')}}`),
    'action-deep': encodeInput(4, 0, `{"action":{"type":"SETTINGS","data":${deep(DEEP)}}}`),
    'reassign': encodeInput(5, 0, json({ policy_id: 'fleet-default-policy' })),
    'upgrade': encodeInput(6, 0, json({ version: '9.2.0', source_uri: 'https://artifacts.example/downloads/', rollout_duration_seconds: 600 })),
    'unenroll': encodeInput(7, 0, json({ revoke: false })),
    'request-diagnostics': encodeInput(8, 0, json({ additional_metrics: ['CPU'] })),
    'bulk-request-diagnostics': encodeInput(9, 0, json({ agents: [AGENT], additional_metrics: ['CPU'] })),
    'bulk-request-diagnostics-kuery': encodeInput(9, 0, json({ agents: 'status:online and policy_id:fleet-default-policy' })),
    'agents-query': encodeInput(10, 0, 'page=1&perPage=20&kuery=status:(online or offline) and tags:"a b"&showInactive=true'),
    'policies-query': encodeInput(11, 0, 'page=2&perPage=5&kuery=name:x'),
    'agent-path': encodeInput(12, 0, '%ff'),
  },
  kuery: {
    'status': Buffer.from('status:online'),
    'or-group': Buffer.from('fleet-agents.status:(online or "updating") and policy_id:"fleet-default-policy"'),
    'tags': Buffer.from('tags:"team \\"a\\"" and tags:b*'),
    'nested': Buffer.from('status:((online)) and (tags:x)'),
  },
  'go-duration': {
    'mixed': Buffer.from('1h35m0.5s'),
    'fraction': Buffer.from('1.5h'),
    'micro': Buffer.from('300µs'),
    'negative': Buffer.from('-2m'),
    'ns': Buffer.from('9223372036854775807ns'),
  },
  'api-key-header': {
    'valid-shape': encodeInput(0, 1, `ApiKey ${Buffer.from('key-id:key-secret').toString('base64')}`),
    'no-colon': encodeInput(0, 1, `ApiKey ${Buffer.from('nocolon').toString('base64')}`),
    'bearer': encodeInput(0, 1, 'Bearer abc'),
    'lowercase-scheme': encodeInput(0, 1, `apikey ${Buffer.from('a:b').toString('base64')}`),
    'padding': encodeInput(0, 0, 'ApiKey YTpi=='),
  },
};

for (const [target, files] of Object.entries(seeds)) {
  const dir = join(ROOT, target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, `seed-${name}`), bytes);
}
process.stdout.write(`wrote seeds for ${Object.keys(seeds).join(', ')}\n`);

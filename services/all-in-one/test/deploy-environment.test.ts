import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  composeEnvironment,
  LOCAL_ADDRESSING,
  readEnvFile,
  replicaEnvironment,
  type LocalAddressing,
  type ServiceName,
} from '../../../deploy/topology/local-topology';
import { schemaLeaves, SERVICES } from '../../../scripts/config-reference';

const ENV_DIR = join(__dirname, '../../../deploy/env');
const SERVICE_NAMES: ServiceName[] = ['checkin-gateway', 'enrollment', 'policy-dispatcher'];

const knownVariables = (service: ServiceName): Set<string> => {
  const entry = SERVICES.find((s) => s.name === service);
  if (!entry) throw new Error(`no schema for ${service}`);
  return new Set(schemaLeaves(entry.schema).flatMap((l) => (l.env ? [l.env] : [])));
};

describe('Deployment environment (deploy/env, shared by docker-compose and the local runner)', function () {
  it('When a service reads its env files, then every variable set there is one its config schema knows', () => {
    for (const service of SERVICE_NAMES) {
      const known = knownVariables(service);
      const unknown = Object.keys(composeEnvironment(service)).filter((k) => !known.has(k));
      expect(unknown, `${service}: unknown variables`).to.deep.equal([]);
    }
  });

  it('When the local runner builds a replica environment, then it differs from the compose one only in the addressing keys', () => {
    const local = Object.fromEntries(LOCAL_ADDRESSING.map((k) => [k, `local-${k}`])) as LocalAddressing;
    for (const service of SERVICE_NAMES) {
      const compose = composeEnvironment(service);
      const replica = replicaEnvironment(service, local);
      const differing = Object.keys({ ...compose, ...replica }).filter((k) => compose[k] !== replica[k]);
      expect(differing.every((k) => (LOCAL_ADDRESSING as readonly string[]).includes(k)), differing.join(', ')).to.equal(true);
      // The scale-out essentials come from the shared file, not from the runner.
      expect(replica).to.include({ FLEET_STORE_BACKEND: 'elasticsearch', FLEET_BUS_BACKEND: 'redis', FLEET_JOBS_BACKEND: 'bullmq' });
    }
  });

  it('When an env file has a line that is not KEY=VALUE, then reading it fails with the line number', () => {
    for (const f of readdirSync(ENV_DIR).filter((n) => n.endsWith('.env'))) expect(() => readEnvFile(join(ENV_DIR, f))).to.not.throw();
    expect(() => readEnvFile(join(__dirname, 'deploy-environment.test.ts'))).to.throw(/deploy-environment\.test\.ts:1: expected KEY=VALUE/);
  });
});

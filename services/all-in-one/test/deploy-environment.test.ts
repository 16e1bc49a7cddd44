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
import { composeContainerEnvironment, composeFleetServices, k8sContainerEnvironment, k8sFleetContainers, readCompose } from './support/deploy-model';
import { overlayNames, renderOverlay } from './support/deploy-tools';

const ENV_DIR = join(__dirname, '../../../deploy/env');
const SERVICE_NAMES: ServiceName[] = ['checkin-gateway', 'enrollment', 'policy-dispatcher'];

const knownVariables = (service: ServiceName): Set<string> => {
  const entry = SERVICES.find((s) => s.name === service);
  if (!entry) throw new Error(`no schema for ${service}`);
  return new Set(schemaLeaves(entry.schema).flatMap((l) => (l.env ? [l.env] : [])));
};

describe('Deployment environment (deploy/env shared by docker-compose and the local runner; docker-compose.yml; k8s overlays)', function () {
  it('When a service reads its env files, then every variable set there is one its config schema knows', () => {
    for (const service of SERVICE_NAMES) {
      const known = knownVariables(service);
      const unknown = Object.keys(composeEnvironment(service)).filter((k) => !known.has(k));
      expect(unknown, `${service}: unknown variables`).to.deep.equal([]);
    }
  });

  it('When docker-compose.yml configures a Fleet replica, then every variable it sets (env_file and environment) is one its service schema knows', () => {
    const fleet = composeFleetServices(readCompose());
    expect(fleet.map((f) => f.service)).to.include.members(SERVICE_NAMES);
    for (const { name, service, spec } of fleet) {
      const known = knownVariables(service);
      const unknown = Object.keys(composeContainerEnvironment(spec)).filter((k) => !known.has(k));
      expect(unknown, `${name} (${service}): unknown variables`).to.deep.equal([]);
    }
  });

  it('When a kustomize overlay configures a Fleet container, then every variable it gets (env and envFrom ConfigMaps) is one its service schema knows', function () {
    // Renders k8s/overlays/* with kustomize, built on the first run (see support/deploy-tools.ts).
    this.timeout(600_000);
    for (const overlay of overlayNames()) {
      const objects = renderOverlay(overlay);
      const containers = k8sFleetContainers(objects);
      expect(containers.map((c) => c.service).sort(), overlay).to.deep.equal([...SERVICE_NAMES].sort());
      for (const { service, container } of containers) {
        const known = knownVariables(service);
        const env = k8sContainerEnvironment(objects, container);
        expect(env, `${overlay} ${service}: the ConfigMaps reach the container`).to.include({ FLEET_STORE_BACKEND: 'elasticsearch', FLEET_BUS_BACKEND: 'redis' });
        const unknown = Object.keys(env).filter((k) => !known.has(k));
        expect(unknown, `${overlay} ${service}: unknown variables`).to.deep.equal([]);
      }
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

import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  k8sContainerEnvironment,
  k8sFleetContainers,
  ofKind,
  schemaDefault,
  type K8sContainer,
  type K8sDeployment,
  type K8sProbe,
} from './support/deploy-model';
import { CrdValidator, KubernetesValidator } from './support/deploy-schemas';
import {
  CERT_MANAGER_CRDS,
  certManagerCrdFiles,
  KUBERNETES_SCHEMAS,
  KUBERNETES_VERSIONS,
  KUSTOMIZE,
  kustomizeBinary,
  kustomizeBuild,
  overlayNames,
  overlaysDir,
  parseManifests,
  renderOverlay,
  REPO_ROOT,
  type K8sObject,
} from './support/deploy-tools';

/** Custom resources without a schema here, and what checks them instead. */
const CRDS_WITHOUT_SCHEMA: Record<string, string> = {
  'keda.sh/v1alpha1 ScaledObject': 'KEDA CRD (components/keda); its fields are checked by the KEDA test below',
  'monitoring.coreos.com/v1 PodMonitor': 'Prometheus Operator CRD (components/prometheus-operator); checked by the KEDA test below',
};
const crdKey = (o: K8sObject): string => `${o.apiVersion} ${o.kind}`;

interface Certificate extends K8sObject {
  spec: {
    secretName: string;
    isCA?: boolean;
    commonName?: string;
    dnsNames?: string[];
    usages?: string[];
    issuerRef: { name: string; kind?: string; group?: string };
  };
}
interface Issuer extends K8sObject {
  spec: { ca?: { secretName: string }; selfSigned?: Record<string, never> };
}

interface HpaMetric {
  type: string;
  pods?: { metric: { name: string }; target: { type: string; averageValue?: string } };
  resource?: { name: string; target: { type: string; averageUtilization?: number } };
}
interface HpaRules {
  stabilizationWindowSeconds?: number;
  policies?: { type: string; value: number; periodSeconds: number }[];
}
interface Hpa extends K8sObject {
  spec: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas: number;
    metrics?: HpaMetric[];
    behavior?: { scaleUp?: HpaRules; scaleDown?: HpaRules };
  };
}
interface IngressPath {
  path: string;
  pathType: string;
  backend: { service: { name: string; port: { name?: string; number?: number } } };
}
interface Ingress extends K8sObject {
  spec: { ingressClassName?: string; rules: { host?: string; http: { paths: IngressPath[] } }[] };
}
interface Service extends K8sObject {
  spec: { selector: Record<string, string>; ports: { name?: string; port: number; targetPort?: number | string }[] };
}

/** The container port a probe or Service names (by name or number). */
function containerPort(container: K8sContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function preStopSeconds(container: K8sContainer): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  return command[0] === 'sleep' ? Number(command[1]) : 0;
}

/** The kustomize version kubectl embeds (`Kustomize Version: v5.5.0`), or undefined without kubectl. */
function kubectlKustomizeMajor(): number | undefined {
  try {
    const out = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /Kustomize Version: v(\d+)/.exec(out);
    return m ? Number(m[1]) : 0;
  } catch {
    return undefined;
  }
}

describe('Kubernetes manifests (k8s/: every overlay rendered by kustomize, checked against Kubernetes schemas)', function () {
  // The first run builds kustomize (go install) and downloads the schemas (pip download).
  this.timeout(600_000);
  const rendered = new Map<string, K8sObject[]>();
  const validators: KubernetesValidator[] = [];
  let crds: CrdValidator;
  let overlays: string[] = [];

  before(() => {
    kustomizeBinary();
    for (const v of KUBERNETES_VERSIONS) validators.push(new KubernetesValidator(v));
    crds = new CrdValidator(certManagerCrdFiles());
    overlays = overlayNames();
    for (const o of overlays) rendered.set(o, renderOverlay(o));
  });

  const all = (): [string, K8sObject[]][] => [...rendered.entries()];

  it(`When every overlay is rendered (kustomize ${KUSTOMIZE.version}), then each gives the three services, and kubectl kustomize gives the same`, () => {
    expect(overlays).to.include.members(['dev', 'production']);
    for (const [overlay, objects] of all()) {
      const deployments = ofKind(objects, 'Deployment').map((d) => d.metadata.name).sort();
      expect(deployments, overlay).to.deep.equal(['checkin-gateway', 'enrollment', 'policy-dispatcher']);
      expect(objects.every((o) => o.kind === 'Namespace' || o.metadata.namespace), `${overlay}: every object has a namespace`).to.equal(true);
    }
    const major = kubectlKustomizeMajor();
    if (major === undefined || major < 5) {
      process.stdout.write(`      (kubectl ${major === undefined ? 'is not installed' : 'embeds kustomize older than v5'}; compared with kustomize ${KUSTOMIZE.version} only)\n`);
      return;
    }
    for (const overlay of overlays) {
      const viaKubectl = parseManifests(execFileSync('kubectl', ['kustomize', join(overlaysDir(), overlay)], { encoding: 'utf8' }), overlay);
      expect(viaKubectl, overlay).to.deep.equal(rendered.get(overlay));
    }
  });

  for (const version of KUBERNETES_VERSIONS) {
    it(`When every rendered object is checked against the strict Kubernetes ${version} schemas (kubernetes-validate ${KUBERNETES_SCHEMAS.version}), then it is valid`, () => {
      const validator = validators.find((v) => v.version === version)!;
      const failures: string[] = [];
      const skipped = new Set<string>();
      const byCrd = new Set<string>();
      for (const [overlay, objects] of all()) {
        for (const obj of objects) {
          if (!validator.hasSchema(obj) && crds.has(obj)) {
            for (const e of crds.errors(obj)) failures.push(`${overlay} ${obj.kind}/${obj.metadata.name}: ${e}`);
            byCrd.add(crdKey(obj));
            continue;
          }
          if (!validator.hasSchema(obj)) {
            expect(CRDS_WITHOUT_SCHEMA, `${overlay}: ${crdKey(obj)} has no schema and no reason to skip it`).to.have.property(crdKey(obj));
            skipped.add(`${crdKey(obj)}: ${CRDS_WITHOUT_SCHEMA[crdKey(obj)]}`);
            continue;
          }
          for (const e of validator.errors(obj)) failures.push(`${overlay} ${obj.kind}/${obj.metadata.name}: ${e}`);
        }
      }
      expect(failures).to.deep.equal([]);
      expect([...byCrd].sort(), `checked against cert-manager ${CERT_MANAGER_CRDS.version}'s CRDs`).to.include.members(['cert-manager.io/v1 Certificate', 'cert-manager.io/v1 Issuer']);
      if (skipped.size) process.stdout.write(`      skipped (no schema): ${[...skipped].join('; ')}\n`);
    });
  }

  it('When a manifest breaks the schema, then the check rejects it (mutated objects, and a broken overlay through kustomize)', () => {
    const validator = validators[0]!;
    const production = rendered.get('production')!;
    const deployment = (): K8sDeployment => JSON.parse(JSON.stringify(ofKind(production, 'Deployment')[0])) as K8sDeployment;
    const typo = deployment();
    (typo.spec.template.spec.containers[0] as unknown as Record<string, unknown>)['readinesProbe'] = { httpGet: { path: '/readyz', port: 'http' } };
    const wrongType = deployment();
    (wrongType.spec as Record<string, unknown>)['replicas'] = 'three';
    const hpa = JSON.parse(JSON.stringify(ofKind(production, 'HorizontalPodAutoscaler')[0])) as Hpa;
    delete (hpa.spec as Partial<Hpa['spec']>).maxReplicas;
    for (const [what, obj] of [
      ['an unknown container field', typo],
      ['replicas as a string', wrongType],
      ['an HPA without maxReplicas', hpa],
    ] as const) {
      expect(validator.errors(obj), what).to.not.be.empty;
    }

    // End to end: an overlay whose patch adds a misspelt field renders, and then fails the check.
    const dir = mkdtempSync(join(tmpdir(), 'fleet-k8s-broken-'));
    try {
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          // kustomize takes only relative paths for resources.
          `  - ${relative(dir, join(overlaysDir(), 'dev'))}`,
          'patches:',
          '  - target: {kind: Deployment, name: checkin-gateway}',
          '    patch: |-',
          '      - op: add',
          '        path: /spec/template/spec/terminationGracePeriod',
          '        value: 45',
          '',
        ].join('\n'),
      );
      const broken = parseManifests(kustomizeBuild(dir), 'broken overlay');
      const errors = broken.flatMap((o) => (validator.hasSchema(o) ? validator.errors(o) : []));
      expect(errors.join('\n')).to.contain('terminationGracePeriod');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`When a cert-manager resource breaks its CRD schema (cert-manager ${CERT_MANAGER_CRDS.version}), then the check rejects it`, () => {
    const production = rendered.get('production')!;
    const certificate = (): Certificate => JSON.parse(JSON.stringify(ofKind<Certificate>(production, 'Certificate').find((c) => c.metadata.name === 'fleet-replica'))) as Certificate;
    expect(crds.errors(certificate())).to.deep.equal([]);
    const typo = certificate();
    (typo.spec as Record<string, unknown>)['dnsName'] = ['fleet-replica'];
    const noSecret = certificate();
    delete (noSecret.spec as Partial<Certificate['spec']>).secretName;
    const badUsage = certificate();
    badUsage.spec.usages = ['server authentication'];
    const badKey = certificate();
    (badKey.spec as Record<string, unknown>)['privateKey'] = { algorithm: 'DSA' };
    for (const [what, obj] of [
      ['a misspelt field', typo],
      ['no secretName', noSecret],
      ['an unknown usage', badUsage],
      ['an unknown key algorithm', badKey],
    ] as const) {
      expect(crds.errors(obj), what).to.not.be.empty;
    }
  });

  it('When TLS is on every hop, then the pods mount the Secret cert-manager writes as a directory, at the files their settings name, and the Ingress re-encrypts with a certificate of the same CA', () => {
    for (const [overlay, objects] of all()) {
      const certificates = ofKind<Certificate>(objects, 'Certificate');
      const issuers = ofKind<Issuer>(objects, 'Issuer');
      const bySecret = (name: string) => certificates.find((c) => c.spec.secretName === name);
      /** A Certificate's Secret has ca.crt when its Issuer is a CA or self-signed one (here, in the rendered objects). */
      const caIssuer = (c: Certificate) => issuers.find((i) => i.metadata.name === c.spec.issuerRef.name && (c.spec.issuerRef.kind ?? 'Issuer') === 'Issuer' && i.spec.ca);
      for (const { service, deployment, container } of k8sFleetContainers(objects)) {
        const where = `${overlay} ${service}`;
        const env = k8sContainerEnvironment(objects, container);
        expect(env['FLEET_TLS_MODE'], where).to.equal('files');
        const files: [string, string][] = [
          ['FLEET_TLS_CERT_FILE', 'tls.crt'],
          ['FLEET_TLS_KEY_FILE', 'tls.key'],
          ['FLEET_TLS_CLIENT_CA_FILE', 'ca.crt'],
        ];
        let secretName: string | undefined;
        for (const [variable, key] of files) {
          const file = env[variable] ?? '';
          const mount = container.volumeMounts?.find((m) => file === `${m.mountPath}/${key}`);
          expect(mount, `${where}: ${variable}=${file} is key ${key} of a mounted Secret`).to.not.equal(undefined);
          // A directory mount: Kubernetes updates its files when the Secret changes (never a subPath's).
          expect(mount!.subPath, `${where} ${variable}`).to.equal(undefined);
          expect(mount!.readOnly, `${where} ${variable}`).to.equal(true);
          const volume = deployment.spec.template.spec.volumes?.find((v) => v.name === mount!.name);
          expect(volume?.secret?.items, `${where}: the whole Secret, every key`).to.equal(undefined);
          secretName ??= volume?.secret?.secretName;
          expect(volume?.secret?.secretName, `${where} ${variable}`).to.equal(secretName);
        }
        const cert = bySecret(secretName ?? '');
        expect(cert, `${where}: Secret ${secretName} is a cert-manager Certificate's`).to.not.equal(undefined);
        expect(caIssuer(cert!), `${where}: ${cert!.metadata.name} comes from a CA Issuer (its Secret has ca.crt)`).to.not.equal(undefined);
        expect(cert!.spec.usages ?? ['digital signature', 'key encipherment'], where).to.include('server auth');
        for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) if (probe) expect(probe.httpGet?.scheme, `${where} probe`).to.equal('HTTPS');
        if (service === 'policy-dispatcher') expect(env['FLEET_PUBLIC_URLS'], where).to.match(/^https:\/\//);
      }

      // The Ingress: public TLS from a Certificate for its host; HTTPS upstream, checked against the pods' CA and name.
      const ingress = ofKind<Ingress & { spec: { tls?: { hosts: string[]; secretName: string }[] } }>(objects, 'Ingress')[0]!;
      const ns = ingress.metadata.namespace;
      const a = ingress.metadata.annotations ?? {};
      const hosts = ingress.spec.rules.map((r) => r.host);
      expect(ingress.spec.tls?.flatMap((t) => t.hosts), overlay).to.deep.equal(hosts);
      const publicCert = bySecret(ingress.spec.tls?.[0]?.secretName ?? '');
      expect(publicCert?.spec.dnsNames, `${overlay}: the public Certificate`).to.include.members(hosts as string[]);
      const dispatcher = k8sFleetContainers(objects).find((c) => c.service === 'policy-dispatcher')!;
      expect(new URL(k8sContainerEnvironment(objects, dispatcher.container)['FLEET_PUBLIC_URLS'] ?? '').hostname, overlay).to.equal(hosts[0]);
      expect(a['nginx.ingress.kubernetes.io/backend-protocol'], overlay).to.equal('HTTPS');
      expect(a['nginx.ingress.kubernetes.io/proxy-ssl-verify'], overlay).to.equal('on');
      const replicaCert = bySecret(
        (k8sFleetContainers(objects)[0]!.deployment.spec.template.spec.volumes ?? []).find((v) => v.name === 'tls')?.secret?.secretName ?? '',
      )!;
      expect(replicaCert.spec.dnsNames, overlay).to.include(a['nginx.ingress.kubernetes.io/proxy-ssl-name']);
      const secretRef = (key: string): Certificate | undefined => {
        const [refNs, name] = (a[key] ?? '').split('/');
        expect(refNs, `${overlay} ${key}: namespace/name in the Ingress's namespace`).to.equal(ns);
        return bySecret(name ?? '');
      };
      const proxyClient = secretRef('nginx.ingress.kubernetes.io/proxy-ssl-secret');
      expect(proxyClient?.spec.usages, `${overlay}: the Ingress's client certificate`).to.include('client auth');
      expect(proxyClient?.spec.issuerRef, `${overlay}: issued by the pods' CA`).to.deep.equal(replicaCert.spec.issuerRef);
      const agentsCa = secretRef('nginx.ingress.kubernetes.io/auth-tls-secret');
      expect(agentsCa?.spec.isCA, `${overlay}: the agents' CA`).to.equal(true);
      expect(a['nginx.ingress.kubernetes.io/auth-tls-verify-client'], overlay).to.be.oneOf(['optional', 'on']);
      expect(a['nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream'], overlay).to.equal('true');
      // The pods take the identity headers from the ingress controller only.
      for (const { container } of k8sFleetContainers(objects)) expect(k8sContainerEnvironment(objects, container)['FLEET_HTTP_TRUST_PROXY'], overlay).to.be.a('string').and.not.equal('');
    }
  });

  it("When the pods talk to Elasticsearch and Redis, then only over TLS (https://, rediss://), every CA and client certificate a key of a Secret mounted as a directory, and Redis's certificate from the internal CA names its host", () => {
    const baseKustomization = readFileSync(join(REPO_ROOT, 'k8s', 'base', 'kustomization.yaml'), 'utf8');
    for (const [overlay, objects] of all()) {
      const certificates = ofKind<Certificate>(objects, 'Certificate');
      const issuers = ofKind<Issuer>(objects, 'Issuer');
      for (const { service, deployment, container } of k8sFleetContainers(objects)) {
        const where = `${overlay} ${service}`;
        const env = k8sContainerEnvironment(objects, container);
        /** The Secret whose key `key` the setting's file is: mounted whole, as a directory, read-only. */
        const secretOf = (variable: string, key: string): string => {
          const file = env[variable] ?? '';
          const mount = container.volumeMounts?.find((m) => file === `${m.mountPath}/${key}`);
          expect(mount, `${where}: ${variable}=${file} is key ${key} of a mounted Secret`).to.not.equal(undefined);
          expect(mount!.subPath, `${where} ${variable}: a directory mount`).to.equal(undefined);
          expect(mount!.readOnly, `${where} ${variable}`).to.equal(true);
          const volume = deployment.spec.template.spec.volumes?.find((v) => v.name === mount!.name);
          expect(volume?.secret?.secretName, `${where} ${variable}: a Secret volume`).to.be.a('string');
          expect(volume!.secret!.items, `${where} ${variable}: the whole Secret, every key`).to.equal(undefined);
          return volume!.secret!.secretName;
        };

        // Elasticsearch: every host https, checked against the CA of the Secret fleet-es-ca (created
        // out of band, so documented with the other Secrets).
        const esHosts = (env['FLEET_ES_HOSTS'] ?? '').split(',').map((h) => h.trim()).filter(Boolean);
        expect(esHosts, where).to.not.be.empty;
        for (const h of esHosts) expect(new URL(h).protocol, `${where} FLEET_ES_HOSTS ${h}`).to.equal('https:');
        if (service === 'policy-dispatcher') {
          for (const h of (env['FLEET_OUTPUT_HOSTS'] ?? '').split(',')) expect(new URL(h.trim()).protocol, `${where} FLEET_OUTPUT_HOSTS ${h}`).to.equal('https:');
        }
        expect(env['FLEET_ES_SSL_VERIFICATION_MODE'] ?? 'full', where).to.equal('full');
        const esCa = secretOf('FLEET_ES_SSL_CA_FILE', 'ca.crt');
        expect(baseKustomization, `${where}: the Secret ${esCa} is documented`).to.match(new RegExp(`^#\\s+${esCa}\\s+key \`ca\\.crt\``, 'm'));

        // Redis: rediss://, its certificate checked against the internal CA, which issues a
        // Certificate naming the URL's host; the pods present a client certificate of that CA.
        const redisUrl = new URL(env['FLEET_REDIS_URL'] ?? '');
        expect(redisUrl.protocol, `${where} FLEET_REDIS_URL`).to.equal('rediss:');
        expect(env['FLEET_REDIS_TLS_VERIFICATION_MODE'] ?? 'full', where).to.equal('full');
        const caCert = certificates.find((c) => c.spec.secretName === secretOf('FLEET_REDIS_TLS_CA_FILE', 'ca.crt'));
        expect(caCert, `${where}: FLEET_REDIS_TLS_CA_FILE is the ca.crt of a cert-manager Certificate's Secret`).to.not.equal(undefined);
        const issuer = issuers.find((i) => i.metadata.name === caCert!.spec.issuerRef.name && (caCert!.spec.issuerRef.kind ?? 'Issuer') === 'Issuer' && i.spec.ca);
        expect(issuer, `${where}: from a CA Issuer (its Secret has ca.crt)`).to.not.equal(undefined);
        const redisServer = certificates.find(
          (c) => c.spec.issuerRef.name === issuer!.metadata.name && (c.spec.dnsNames ?? []).includes(redisUrl.hostname) && (c.spec.usages ?? []).includes('server auth'),
        );
        expect(redisServer, `${where}: a server Certificate of ${issuer!.metadata.name} names ${redisUrl.hostname}`).to.not.equal(undefined);
        const clientSecret = secretOf('FLEET_REDIS_TLS_CERT_FILE', 'tls.crt');
        expect(secretOf('FLEET_REDIS_TLS_KEY_FILE', 'tls.key'), `${where}: the key of the same certificate`).to.equal(clientSecret);
        const clientCert = certificates.find((c) => c.spec.secretName === clientSecret);
        expect(clientCert?.spec.usages, `${where}: the Redis client certificate`).to.include('client auth');
        expect(clientCert?.spec.issuerRef, `${where}: issued by the CA Redis checks clients against`).to.deep.equal(caCert!.spec.issuerRef);
      }
    }
  });

  it('When a pod is probed, then readiness asks /readyz and liveness /livez on the port the service listens on, and metrics are on their own port', () => {
    for (const [overlay, objects] of all()) {
      for (const { service, container } of k8sFleetContainers(objects)) {
        const env = k8sContainerEnvironment(objects, container);
        const where = `${overlay} ${service}`;
        const httpPort = Number(env['FLEET_HTTP_PORT'] ?? schemaDefault(service, 'http.port'));
        const metricsPort = Number(env['FLEET_METRICS_PORT'] ?? schemaDefault(service, 'metrics.port'));
        const probe = (p: K8sProbe | undefined, path: string, what: string): void => {
          expect(p?.httpGet?.path, `${where} ${what}`).to.equal(path);
          expect(containerPort(container, p?.httpGet?.port), `${where} ${what} port`).to.equal(httpPort);
        };
        probe(container.readinessProbe, '/readyz', 'readinessProbe');
        probe(container.livenessProbe, '/livez', 'livenessProbe');
        if (container.startupProbe) probe(container.startupProbe, '/livez', 'startupProbe');
        expect(containerPort(container, 'metrics'), `${where} metrics port`).to.equal(metricsPort);
        // Reachable from other pods: every interface, not loopback.
        expect(env['FLEET_HTTP_HOST'] ?? schemaDefault(service, 'http.host'), where).to.equal('0.0.0.0');
        expect(env['FLEET_METRICS_HOST'] ?? schemaDefault(service, 'metrics.host'), where).to.equal('0.0.0.0');
        // Off loopback, the metrics listener refuses to start without a token.
        expect(env['FLEET_METRICS_TOKEN_FILE'], `${where} metrics token file`).to.be.a('string').and.not.equal('');
        expect(container.resources?.requests, `${where} requests`).to.include.keys('cpu', 'memory');
        expect(container.resources?.limits, `${where} limits`).to.include.keys('memory');
      }
    }
  });

  it('When a pod is stopped, then preStop sleeps first and the grace period covers preStop plus the drain', () => {
    for (const [overlay, objects] of all()) {
      for (const { service, deployment, container } of k8sFleetContainers(objects)) {
        const where = `${overlay} ${service}`;
        const preStop = preStopSeconds(container);
        const grace = deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        const env = k8sContainerEnvironment(objects, container);
        const drainMs = Number(env['FLEET_HTTP_DRAIN_TIMEOUT_MS'] ?? schemaDefault(service, 'http.drainTimeoutMs'));
        // Endpoint removal reaches the ingress and kube-proxy within a few seconds.
        expect(preStop, `${where} preStop sleep`).to.be.at.least(5);
        // In-flight requests get the drain timeout; flushing and closing store and bus take the rest
        // of the 30 s that docs/operations.md (Graceful shutdown) asks for.
        expect(grace, `${where} terminationGracePeriodSeconds`).to.be.greaterThan(preStop + Math.max(30, drainMs / 1000));
      }
    }
  });

  it('When the Ingress holds long polls, then its timeouts exceed the longest poll, and it routes like haproxy', () => {
    const maxPollSeconds = Number(schemaDefault('checkin-gateway', 'checkin.maxPollMs')) / 1000;
    for (const [overlay, objects] of all()) {
      for (const { service, container } of k8sFleetContainers(objects)) {
        const set = k8sContainerEnvironment(objects, container)['FLEET_CHECKIN_MAX_POLL_MS'];
        expect(set, `${overlay} ${service} raises the poll cap`).to.equal(undefined);
        // ingress-nginx keeps idle upstream connections 60 s: Node must keep them longer.
        const keepAlive = Number(k8sContainerEnvironment(objects, container)['FLEET_HTTP_KEEPALIVE_TIMEOUT_MS'] ?? schemaDefault(service, 'http.keepAliveTimeoutMs'));
        expect(keepAlive, `${overlay} ${service} keep-alive`).to.be.greaterThan(60_000);
      }
      const ingresses = ofKind<Ingress>(objects, 'Ingress');
      expect(ingresses, overlay).to.have.length(1);
      const ingress = ingresses[0]!;
      const annotations = ingress.metadata.annotations ?? {};
      for (const key of ['nginx.ingress.kubernetes.io/proxy-read-timeout', 'nginx.ingress.kubernetes.io/proxy-send-timeout']) {
        expect(Number(annotations[key]), `${overlay} ${key}`).to.be.greaterThan(maxPollSeconds);
      }
      // Acks may be 2 MiB.
      expect(annotations['nginx.ingress.kubernetes.io/proxy-body-size'], overlay).to.match(/^[4-9]m$|^[1-9]\d+m$/);

      const paths = ingress.spec.rules.flatMap((r) => r.http.paths);
      const route = (requestPath: string): string | undefined => {
        const exact = paths.find((p) => p.pathType === 'Exact' && p.path === requestPath);
        if (exact) return exact.backend.service.name;
        const regex = paths.filter((p) => p.pathType === 'ImplementationSpecific').find((p) => new RegExp(`^${p.path}`).test(requestPath));
        if (regex) return regex.backend.service.name;
        const prefixes = paths.filter((p) => p.pathType === 'Prefix' && requestPath.startsWith(p.path)).sort((a, b) => b.path.length - a.path.length);
        return prefixes[0]?.backend.service.name;
      };
      expect(route('/api/fleet/agents/enroll'), overlay).to.equal('enrollment');
      const gatewayPaths = ['/api/fleet/agents/a1/checkin', '/api/fleet/agents/a1/acks', '/api/fleet/agents/a1/audit/unenroll', '/api/status'];
      gatewayPaths.push(`/api/fleet/artifacts/endpoint-exceptionlist-linux-v1/${'a'.repeat(64)}`, '/api/fleet/file/f1', '/api/agents/upgrades/9.1.0/pgp-public-key');
      gatewayPaths.push('/api/fleet/uploads', '/api/fleet/uploads/u1', '/api/fleet/uploads/u1/0');
      for (const p of gatewayPaths) expect(route(p), `${overlay} ${p}`).to.equal('checkin-gateway');
      for (const p of ['/api/fleet/agents', '/api/fleet/agents/a1', '/api/fleet/agent_policies', '/api/fleet/agents/a1/checkin/x', '/api/fleet/files/f1', '/api/fleet/agents/a1/uploads', '/api/fleet/agents/files/f1/diag.zip']) expect(route(p), `${overlay} ${p}`).to.equal('policy-dispatcher');

      const services = ofKind<Service>(objects, 'Service');
      for (const p of paths) {
        const svc = services.find((s) => s.metadata.name === p.backend.service.name);
        expect(svc?.spec.ports.map((x) => x.name), `${overlay} ingress backend ${p.backend.service.name}`).to.include(p.backend.service.port.name);
      }
    }
  });

  it('When Services front the pods, then each selects its Deployment and exposes its http and metrics ports', () => {
    for (const [overlay, objects] of all()) {
      for (const { service, deployment, container } of k8sFleetContainers(objects)) {
        const svc = ofKind<Service>(objects, 'Service').find((s) => s.metadata.name === service);
        expect(svc, `${overlay} Service ${service}`).to.not.equal(undefined);
        const labels = deployment.spec.template.metadata?.labels ?? {};
        for (const [k, v] of Object.entries(svc!.spec.selector)) expect(labels[k], `${overlay} ${service} selector ${k}`).to.equal(v);
        for (const name of ['http', 'metrics']) {
          const port = svc!.spec.ports.find((p) => p.name === name);
          expect(containerPort(container, port?.targetPort), `${overlay} ${service} ${name}`).to.equal(containerPort(container, name));
        }
        const pdb = ofKind(objects, 'PodDisruptionBudget').find((p) => p.metadata.name === service) as (K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } }) | undefined;
        expect(pdb, `${overlay} PodDisruptionBudget ${service}`).to.not.equal(undefined);
        for (const [k, v] of Object.entries(pdb!.spec.selector.matchLabels)) expect(labels[k], `${overlay} ${service} PDB ${k}`).to.equal(v);
      }
    }
  });

  it('When the service token, the admin token and the metrics token are needed, then they come from Secrets mounted at the files the configuration names', () => {
    for (const [overlay, objects] of all()) {
      expect(ofKind(objects, 'Secret'), `${overlay}: no Secret is committed`).to.deep.equal([]);
      for (const { service, deployment, container } of k8sFleetContainers(objects)) {
        const env = k8sContainerEnvironment(objects, container);
        const files = [env['FLEET_ES_SERVICE_TOKEN_FILE'], env['FLEET_ADMIN_TOKEN_FILE'], env['FLEET_METRICS_TOKEN_FILE']].filter((f): f is string => !!f);
        expect(files.length, `${overlay} ${service}`).to.equal(service === 'policy-dispatcher' ? 3 : 2);
        for (const file of files) {
          const mount = container.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
          const volume = deployment.spec.template.spec.volumes?.find((v) => v.name === mount?.name);
          expect(volume?.secret, `${overlay} ${service} ${file}`).to.not.equal(undefined);
          expect(mount?.readOnly, `${overlay} ${service} ${file}`).to.equal(true);
          const item = volume!.secret!.items?.find((i) => `${mount!.mountPath}/${i.path}` === file);
          expect(item, `${overlay} ${service} ${file} is an item of ${volume!.secret!.secretName}`).to.not.equal(undefined);
        }
        // The data directory is writable (first-start token files).
        const dataDir = (env['FLEET_SQLITE_PATH'] ?? '').replace(/\/[^/]+$/, '');
        expect(container.volumeMounts?.find((m) => m.mountPath === dataDir)?.readOnly, `${overlay} ${service} ${dataDir}`).to.not.equal(true);
      }
    }
  });

  it('When gateways autoscale, then the HPA reads the per-pod long-poll metric the prometheus-adapter rule serves, and scales up fast and down slowly', () => {
    const adapter = parseYaml(readFileSync(join(REPO_ROOT, 'k8s', 'components', 'prometheus-adapter', 'values.yaml'), 'utf8')) as {
      rules: { custom: { seriesQuery: string; resources: { overrides: Record<string, { resource: string }> }; name: { as: string } }[] };
    };
    const rule = adapter.rules.custom.find((r) => r.seriesQuery.startsWith('fleet_checkin_inflight_longpolls'));
    expect(rule, 'adapter rule').to.not.equal(undefined);
    expect(rule!.resources.overrides['pod']?.resource).to.equal('pod');
    expect(rule!.resources.overrides['namespace']?.resource).to.equal('namespace');

    const production = rendered.get('production')!;
    const hpas = ofKind<Hpa>(production, 'HorizontalPodAutoscaler');
    expect(hpas.map((h) => h.spec.scaleTargetRef.name).sort()).to.deep.equal(['checkin-gateway', 'enrollment', 'policy-dispatcher']);
    for (const hpa of hpas) {
      expect(hpa.apiVersion).to.equal('autoscaling/v2');
      const target = ofKind<K8sDeployment>(production, 'Deployment').find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name);
      expect(target, hpa.metadata.name).to.not.equal(undefined);
      // The HPA owns the replica count.
      expect(target!.spec.replicas, `${hpa.metadata.name} replicas`).to.equal(undefined);
      expect(hpa.spec.minReplicas ?? 1, hpa.metadata.name).to.be.at.least(2);
      const cpu = hpa.spec.metrics?.find((m) => m.type === 'Resource' && m.resource?.name === 'cpu');
      expect(cpu?.resource?.target.type, `${hpa.metadata.name} CPU`).to.equal('Utilization');
    }
    const gateway = hpas.find((h) => h.spec.scaleTargetRef.name === 'checkin-gateway')!;
    const polls = gateway.spec.metrics?.find((m) => m.type === 'Pods');
    expect(polls?.pods?.metric.name).to.equal(rule!.name.as);
    expect(polls?.pods?.target.type).to.equal('AverageValue');
    expect(Number(polls?.pods?.target.averageValue)).to.be.greaterThan(0);
    const up = gateway.spec.behavior?.scaleUp;
    const down = gateway.spec.behavior?.scaleDown;
    expect(up?.stabilizationWindowSeconds ?? 0).to.be.at.most(60);
    expect(down?.stabilizationWindowSeconds).to.be.at.least(300);
    expect(Math.max(...(down?.policies ?? []).filter((p) => p.type === 'Pods').map((p) => p.value))).to.equal(1);
    // dev has no HPA: its single replicas stay as written.
    for (const d of ofKind<K8sDeployment>(rendered.get('dev')!, 'Deployment')) expect(d.spec.replicas, d.metadata.name).to.equal(1);
    expect(ofKind(rendered.get('dev')!, 'HorizontalPodAutoscaler')).to.deep.equal([]);
  });

  it('When KEDA scales the gateways instead, then its ScaledObject replaces the gateway HPA, queries the same metric, and a PodMonitor scrapes every pod', () => {
    const withKeda = all().filter(([, objects]) => objects.some((o) => o.kind === 'ScaledObject'));
    expect(withKeda.map(([o]) => o)).to.deep.equal(['production-keda']);
    for (const [overlay, objects] of withKeda) {
      const so = ofKind(objects, 'ScaledObject')[0] as K8sObject & {
        spec: {
          scaleTargetRef: { name: string };
          minReplicaCount: number;
          maxReplicaCount: number;
          advanced?: { horizontalPodAutoscalerConfig?: { behavior?: { scaleDown?: HpaRules } } };
          triggers: { type: string; metricType?: string; metadata: Record<string, string> }[];
        };
      };
      expect(so.spec.scaleTargetRef.name, overlay).to.equal('checkin-gateway');
      expect(ofKind<Hpa>(objects, 'HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef.name), overlay).to.not.include('checkin-gateway');
      const prom = so.spec.triggers.find((t) => t.type === 'prometheus');
      expect(prom?.metadata['query'], overlay).to.match(new RegExp(`fleet_checkin_inflight_longpolls\\{namespace="${so.metadata.namespace}"\\}`));
      expect(prom?.metricType, overlay).to.equal('AverageValue');
      expect(Number(prom?.metadata['threshold'])).to.be.greaterThan(0);
      expect(so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior?.scaleDown?.stabilizationWindowSeconds).to.be.at.least(300);
      expect(so.spec.minReplicaCount).to.be.at.least(2);
      expect(so.spec.maxReplicaCount).to.be.greaterThan(so.spec.minReplicaCount);

      const monitor = ofKind(objects, 'PodMonitor')[0] as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string; path: string }[] } };
      expect(monitor, overlay).to.not.equal(undefined);
      // The metrics port requires the bearer token (FLEET_METRICS_TOKEN_FILE), from the same Secret the pods mount.
      expect(monitor.spec.podMetricsEndpoints).to.deep.include({
        port: 'metrics',
        path: '/metrics',
        interval: '15s',
        authorization: { type: 'Bearer', credentials: { name: 'fleet-metrics-token', key: 'token' } },
      });
      for (const { service, deployment } of k8sFleetContainers(objects)) {
        const labels = deployment.spec.template.metadata?.labels ?? {};
        for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) expect(labels[k], `${overlay} ${service} ${k}`).to.equal(v);
      }
    }
  });
});

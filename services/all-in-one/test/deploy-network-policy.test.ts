import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { FLEET_SERVICES, k8sContainerEnvironment, k8sFleetContainers, ofKind, type K8sDeployment } from './support/deploy-model';
import { KubernetesValidator } from './support/deploy-schemas';
import { KUBERNETES_VERSIONS, kustomizeBinary, kustomizeBuild, overlayNames, overlaysDir, parseManifests, renderOverlay, REPO_ROOT, type K8sObject } from './support/deploy-tools';
import { admits, selectingPolicies, type NetworkPolicy, type Source } from './support/network-policy-model';

/**
 * Who may connect to each named container port of a Fleet pod, by the names of SOURCES below.
 * A port missing here fails the check: a new port needs a rule in k8s/base/network-policies.yaml
 * and an entry here.
 */
const INTENDED: Record<string, readonly string[]> = {
  http: ['the ingress controller'],
  metrics: ['Prometheus'],
};

/** The ingress controller the base admits (ingress-nginx's namespace and pod labels). */
const INGRESS_NAMESPACE = 'ingress-nginx';
const CONTROLLER_LABELS = { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/instance': 'ingress-nginx', 'app.kubernetes.io/component': 'controller' };

const nsLabels = (ns: string, extra: Record<string, string> = {}): Record<string, string> => ({ 'kubernetes.io/metadata.name': ns, ...extra });

/** The namespace of the Prometheus that components/prometheus-adapter and components/keda query. */
function prometheusNamespace(): string {
  const adapter = parseYaml(readFileSync(join(REPO_ROOT, 'k8s', 'components', 'prometheus-adapter', 'values.yaml'), 'utf8')) as { prometheus: { url: string } };
  const keda = parseYaml(readFileSync(join(REPO_ROOT, 'k8s', 'components', 'keda', 'scaled-object.yaml'), 'utf8')) as {
    spec: { triggers: { type: string; metadata: Record<string, string> }[] };
  };
  const kedaAddress = keda.spec.triggers.find((t) => t.type === 'prometheus')?.metadata['serverAddress'] ?? '';
  // <service>.<namespace>.svc
  const namespaceOf = (url: string): string | undefined => /^[^.]+\.([^.]+)\.svc(\.|$)/.exec(new URL(url).hostname)?.[1];
  const fromAdapter = namespaceOf(adapter.prometheus.url);
  expect(fromAdapter, `prometheus-adapter's Prometheus URL ${adapter.prometheus.url}`).to.be.a('string');
  expect(namespaceOf(kedaAddress), `KEDA's serverAddress ${kedaAddress}`).to.equal(fromAdapter);
  return fromAdapter!;
}

/**
 * Every source a Fleet pod might hear from in a cluster with the Fleet namespace `ns`: the two
 * intended peers, look-alikes of them in the wrong place, the Fleet pods themselves, and
 * neighbours.
 */
function sources(objects: K8sObject[], ns: string, monitoring: string): Source[] {
  const pod = (name: string, namespace: string, labels: Record<string, string>, namespaceExtra: Record<string, string> = {}): Source => ({
    name,
    kind: 'pod',
    namespace,
    namespaceLabels: nsLabels(namespace, namespaceExtra),
    labels,
    ip: '10.244.1.10',
  });
  const fleetPods = ofKind<K8sDeployment>(objects, 'Deployment').map((d) => pod(`another ${d.metadata.name} pod`, ns, d.spec.template.metadata?.labels ?? {}));
  return [
    pod('the ingress controller', INGRESS_NAMESPACE, CONTROLLER_LABELS, { 'app.kubernetes.io/name': 'ingress-nginx' }),
    pod("ingress-nginx's admission job", INGRESS_NAMESPACE, { 'app.kubernetes.io/name': 'ingress-nginx', 'app.kubernetes.io/component': 'admission-webhook' }),
    pod('a pod with the controller labels in namespace default', 'default', CONTROLLER_LABELS),
    pod('a pod with the controller labels in the Fleet namespace', ns, CONTROLLER_LABELS),
    pod('Prometheus', monitoring, { 'app.kubernetes.io/name': 'prometheus', 'app.kubernetes.io/managed-by': 'prometheus-operator', prometheus: 'k8s' }),
    pod(`Grafana in ${monitoring}`, monitoring, { 'app.kubernetes.io/name': 'grafana' }),
    pod('a pod labelled prometheus in the Fleet namespace', ns, { 'app.kubernetes.io/name': 'prometheus' }),
    ...fleetPods,
    pod('Redis in the Fleet namespace', ns, { 'app.kubernetes.io/name': 'redis' }),
    pod("cert-manager's ACME solver in the Fleet namespace", ns, { 'acme.cert-manager.io/http01-solver': 'true' }),
    pod('CoreDNS', 'kube-system', { 'k8s-app': 'kube-dns' }),
    { name: 'an address outside the cluster', kind: 'address', ip: '203.0.113.7' },
  ];
}

/**
 * The model check: for every container port of every rendered Deployment, the sources the
 * NetworkPolicies admit must be exactly INTENDED[port name]. Returns what differs.
 */
function admissionFailures(objects: K8sObject[], monitoring: string): string[] {
  const policies = ofKind<NetworkPolicy>(objects, 'NetworkPolicy');
  const failures: string[] = [];
  for (const deployment of ofKind<K8sDeployment>(objects, 'Deployment')) {
    const ns = deployment.metadata.namespace ?? '';
    const labels = deployment.spec.template.metadata?.labels ?? {};
    const all = sources(objects, ns, monitoring);
    for (const container of deployment.spec.template.spec.containers) {
      for (const port of container.ports ?? []) {
        const where = `${deployment.metadata.name}/${container.name} port ${port.name ?? '(unnamed)'} (${port.containerPort})`;
        const admitted = all.filter((s) => admits(policies, { namespace: ns, labels, port }, s)).map((s) => s.name);
        const intended = port.name === undefined ? undefined : INTENDED[port.name];
        if (!intended) {
          failures.push(`${where}: no intended peers are declared for it (admitted: ${admitted.join(', ') || 'none'})`);
          continue;
        }
        const extra = admitted.filter((a) => !intended.includes(a));
        const missing = intended.filter((i) => !admitted.includes(i));
        if (extra.length) failures.push(`${where}: admits ${extra.join(', ')}`);
        if (missing.length) failures.push(`${where}: does not admit ${missing.join(', ')}`);
      }
    }
  }
  return failures;
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('Kubernetes NetworkPolicies (k8s/base/network-policies.yaml: only the ingress controller and Prometheus reach the Fleet pods)', function () {
  // The first run builds kustomize (go install) and downloads the schemas (pip download).
  this.timeout(600_000);
  const rendered = new Map<string, K8sObject[]>();
  const validators: KubernetesValidator[] = [];
  let monitoring = '';

  before(() => {
    kustomizeBinary();
    for (const v of KUBERNETES_VERSIONS) validators.push(new KubernetesValidator(v));
    for (const o of overlayNames()) rendered.set(o, renderOverlay(o));
    monitoring = prometheusNamespace();
  });

  it('When every overlay is rendered, then it has the policies in its namespace, valid against every Kubernetes version\'s networking.k8s.io/v1 schema', () => {
    expect([...rendered.keys()]).to.include.members(['dev', 'production', 'production-keda']);
    for (const [overlay, objects] of rendered) {
      const policies = ofKind<NetworkPolicy>(objects, 'NetworkPolicy');
      expect(policies.map((p) => p.metadata.name).sort(), overlay).to.deep.equal(['fleet-server-default-deny', 'fleet-server-from-ingress-controller', 'fleet-server-from-prometheus']);
      const ns = ofKind(objects, 'Deployment')[0]!.metadata.namespace;
      for (const policy of policies) {
        expect(policy.apiVersion).to.equal('networking.k8s.io/v1');
        expect(policy.metadata.namespace, `${overlay} ${policy.metadata.name}`).to.equal(ns);
        // Ingress only: egress is the operator's (docs/deployment.md, Network policies).
        expect(policy.spec.policyTypes, `${overlay} ${policy.metadata.name}`).to.deep.equal(['Ingress']);
        for (const validator of validators) {
          expect(validator.hasSchema(policy), validator.version).to.equal(true);
          expect(validator.errors(policy), `${overlay} ${policy.metadata.name} (Kubernetes ${validator.version})`).to.deep.equal([]);
        }
      }
      // Every Fleet pod is isolated, by the default deny among others.
      for (const { service, deployment } of k8sFleetContainers(objects)) {
        const selecting = selectingPolicies(policies, { namespace: ns ?? '', labels: deployment.spec.template.metadata?.labels ?? {} }).map((p) => p.metadata.name);
        expect(selecting, `${overlay} ${service}`).to.include('fleet-server-default-deny');
      }
    }
    // The schema is really applied: a misspelt field and a wrong type are rejected.
    const policy = clone(ofKind<NetworkPolicy>(rendered.get('production')!, 'NetworkPolicy').find((p) => p.metadata.name === 'fleet-server-from-ingress-controller')!);
    const typo = clone(policy);
    (typo.spec as Record<string, unknown>)['podSelecter'] = {};
    const badPort = clone(policy);
    (badPort.spec.ingress![0]!.ports![0] as Record<string, unknown>)['port'] = { name: 'http' };
    for (const validator of validators) {
      expect(validator.errors(typo), `${validator.version} podSelecter`).to.not.be.empty;
      expect(validator.errors(badPort), `${validator.version} port as an object`).to.not.be.empty;
    }
  });

  it('When every container port of every rendered Deployment is checked against the policies, then each admits exactly its intended peers', () => {
    expect(monitoring).to.equal('monitoring');
    for (const [overlay, objects] of rendered) {
      const ports = ofKind<K8sDeployment>(objects, 'Deployment').flatMap((d) => d.spec.template.spec.containers.flatMap((c) => c.ports ?? []));
      expect(ports.map((p) => p.name).sort(), overlay).to.deep.equal(['http', 'http', 'http', 'metrics', 'metrics', 'metrics']);
      expect(admissionFailures(objects, monitoring), overlay).to.deep.equal([]);
    }
  });

  it('When a port, a policy or a selector changes, then the model check reports it', () => {
    const production = rendered.get('production')!;
    const withDeployment = (edit: (d: K8sDeployment) => void): K8sObject[] =>
      production.map((o) => {
        if (o.kind !== 'Deployment' || o.metadata.name !== 'checkin-gateway') return o;
        const copy = clone(o) as K8sDeployment;
        edit(copy);
        return copy;
      });
    const withPolicy = (name: string, edit: (p: NetworkPolicy) => void): K8sObject[] =>
      production.map((o) => {
        if (o.kind !== 'NetworkPolicy' || o.metadata.name !== name) return o;
        const copy = clone(o) as NetworkPolicy;
        edit(copy);
        return copy;
      });
    const cases: [string, K8sObject[], RegExp][] = [
      ['a new port without a rule', withDeployment((d) => d.spec.template.spec.containers[0]!.ports!.push({ name: 'debug', containerPort: 9229 })), /checkin-gateway port debug \(9229\): no intended peers/],
      ['an unnamed new port', withDeployment((d) => d.spec.template.spec.containers[0]!.ports!.push({ containerPort: 9229 })), /port \(unnamed\) \(9229\): no intended peers/],
      ['no NetworkPolicy at all', production.filter((o) => o.kind !== 'NetworkPolicy'), /port http \(8231\): admits .*an address outside the cluster/],
      [
        'the controller rule split into two peers (namespace OR labels)',
        withPolicy('fleet-server-from-ingress-controller', (p) => {
          const { namespaceSelector, podSelector } = p.spec.ingress![0]!.from![0]!;
          p.spec.ingress![0]!.from = [{ namespaceSelector: namespaceSelector! }, { podSelector: podSelector! }];
        }),
        /port http \(8230\): admits ingress-nginx's admission job, .*a pod with the controller labels in the Fleet namespace/,
      ],
      ['the controller rule without ports', withPolicy('fleet-server-from-ingress-controller', (p) => delete p.spec.ingress![0]!.ports), /port metrics \(9232\): admits the ingress controller/],
      ['the scraper rule on the http port', withPolicy('fleet-server-from-prometheus', (p) => (p.spec.ingress![0]!.ports = [{ protocol: 'TCP', port: 'http' }])), /port metrics \(9231\): does not admit Prometheus/],
      ['a rule admitting the Fleet namespace', withPolicy('fleet-server-from-prometheus', (p) => p.spec.ingress!.push({ from: [{ podSelector: {} }] })), /admits .*another enrollment pod/],
    ];
    for (const [what, objects, expected] of cases) {
      expect(admissionFailures(objects, monitoring).join('\n'), what).to.match(expected);
    }
  });

  it("When an overlay applies docs/deployment.md's patch of the namespaces, then the controller and Prometheus of the patched namespaces are admitted and those of the defaults are not", () => {
    // The yaml block under "Another ingress controller or Prometheus", as an operator would copy it.
    const docs = readFileSync(join(REPO_ROOT, 'docs', 'deployment.md'), 'utf8');
    const block = /\*\*Another ingress controller or Prometheus\.\*\*[^]*?```yaml\n([^]*?)```/.exec(docs)?.[1];
    expect(block, 'the patch example in docs/deployment.md').to.be.a('string');
    const { patches } = parseYaml(block!) as { patches: unknown[] };
    expect(patches).to.have.length(2);
    const dir = mkdtempSync(join(tmpdir(), 'fleet-k8s-netpol-'));
    try {
      const kustomization = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [relative(dir, join(overlaysDir(), 'production'))], patches };
      writeFileSync(join(dir, 'kustomization.yaml'), stringifyYaml(kustomization));
      const objects = parseManifests(kustomizeBuild(dir), 'patched overlay');
      const policies = ofKind<NetworkPolicy>(objects, 'NetworkPolicy');
      const gateway = ofKind<K8sDeployment>(objects, 'Deployment').find((d) => d.metadata.name === 'checkin-gateway')!;
      const to = (name: string, containerPort: number) => ({ namespace: gateway.metadata.namespace!, labels: gateway.spec.template.metadata!.labels!, port: { name, containerPort } });
      const podIn = (namespace: string, labels: Record<string, string>): Source => ({ name: namespace, kind: 'pod', namespace, namespaceLabels: nsLabels(namespace), labels, ip: '10.244.2.3' });
      const prometheus = { 'app.kubernetes.io/name': 'prometheus' };
      expect(admits(policies, to('http', 8231), podIn('nginx-system', CONTROLLER_LABELS)), 'controller in nginx-system').to.equal(true);
      expect(admits(policies, to('http', 8231), podIn(INGRESS_NAMESPACE, CONTROLLER_LABELS)), 'controller in ingress-nginx').to.equal(false);
      expect(admits(policies, to('metrics', 9231), podIn('observability', prometheus)), 'Prometheus in observability').to.equal(true);
      expect(admits(policies, to('metrics', 9231), podIn(monitoring, prometheus)), `Prometheus in ${monitoring}`).to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('When the Fleet services are configured, then none is given another one\'s address (so no pod-to-pod rule is needed)', () => {
    for (const [overlay, objects] of rendered) {
      const serviceNames = ofKind(objects, 'Service').map((s) => s.metadata.name);
      expect(serviceNames, overlay).to.include.members([...FLEET_SERVICES]);
      let urls = 0;
      for (const { service, container } of k8sFleetContainers(objects)) {
        for (const [key, value] of Object.entries(k8sContainerEnvironment(objects, container))) {
          for (const url of value.split(',').filter((v) => /^[a-z][a-z0-9+.-]*:\/\//i.test(v.trim()))) {
            const host = new URL(url.trim()).hostname.split('.')[0];
            expect(FLEET_SERVICES, `${overlay} ${service} ${key}=${url}`).to.not.include(host);
            urls += 1;
          }
        }
      }
      // Elasticsearch, Redis, the OTLP collector and the public URL at least.
      expect(urls, `${overlay}: URLs checked`).to.be.at.least(10);
    }
  });

  it('When the model is asked about hand-made policies, then it follows the NetworkPolicy rules (no policy, AND within a peer, OR across peers, named and numbered ports, ipBlock)', () => {
    const policy = (spec: NetworkPolicy['spec']): NetworkPolicy => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'app' }, spec });
    const dest = { namespace: 'app', labels: { role: 'api' }, port: { name: 'web', containerPort: 8080 } };
    const src = (namespace: string, labels: Record<string, string>, ip = '10.0.0.5'): Source => ({ name: 's', kind: 'pod', namespace, namespaceLabels: nsLabels(namespace), labels, ip });
    const a = src('a', { role: 'client' });
    const bClient = src('b', { role: 'client' });
    const aOther = src('a', { role: 'other' });
    // No policy selects the pod: everything is admitted; a policy for other pods changes nothing.
    expect(admits([], dest, aOther)).to.equal(true);
    expect(admits([policy({ podSelector: { matchLabels: { role: 'db' } }, policyTypes: ['Ingress'] })], dest, aOther)).to.equal(true);
    // Selected, no rules: nothing. An egress-only policy does not isolate ingress.
    expect(admits([policy({ podSelector: {}, policyTypes: ['Ingress'] })], dest, a)).to.equal(false);
    expect(admits([policy({ podSelector: {}, policyTypes: ['Egress'] })], dest, a)).to.equal(true);
    // A policy of another namespace does not select the pod.
    expect(admits([{ ...policy({ podSelector: {} }), metadata: { name: 'p', namespace: 'other' } }], dest, a)).to.equal(true);
    const and = policy({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: nsLabels('a') }, podSelector: { matchLabels: { role: 'client' } } }] }] });
    expect([a, bClient, aOther].map((s) => admits([and], dest, s))).to.deep.equal([true, false, false]);
    const or = policy({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: nsLabels('a') } }, { podSelector: { matchLabels: { role: 'client' } } }] }] });
    // A bare podSelector means the policy's own namespace: b's client is not admitted.
    expect([a, bClient, aOther, src('app', { role: 'client' })].map((s) => admits([or], dest, s))).to.deep.equal([true, false, true, true]);
    const expressions = policy({ podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: ['api'] }] }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['a'] }] } }] }] });
    expect([a, bClient].map((s) => admits([expressions], dest, s))).to.deep.equal([false, true]);
    const ports = (p: NonNullable<NetworkPolicy['spec']['ingress']>[number]['ports']) => policy({ podSelector: {}, ingress: [{ ports: p! }] });
    expect(admits([ports([{ port: 'web' }])], dest, a)).to.equal(true);
    expect(admits([ports([{ port: 'metrics' }])], dest, a)).to.equal(false);
    expect(admits([ports([{ port: 8000, endPort: 8080 }])], dest, a)).to.equal(true);
    expect(admits([ports([{ port: 8081 }])], dest, a)).to.equal(false);
    expect(admits([ports([{ protocol: 'UDP', port: 'web' }])], dest, a)).to.equal(false);
    const block = policy({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] } }] }] });
    expect(['203.0.113.7', '203.0.113.200', '198.51.100.1'].map((ip) => admits([block], dest, { name: ip, kind: 'address', ip }))).to.deep.equal([true, false, false]);
    // Policies add up.
    expect(admits([and, ports([{ port: 'metrics' }])], dest, aOther)).to.equal(false);
    expect(admits([and, or], dest, aOther)).to.equal(true);
  });
});

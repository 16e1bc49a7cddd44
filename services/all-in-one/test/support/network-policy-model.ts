/**
 * A model of Kubernetes NetworkPolicy ingress semantics (networking.k8s.io/v1), enough to ask of
 * rendered manifests: may this source open a connection to this port of this pod?
 *
 * - A pod is isolated for ingress when a policy of its namespace selects it (podSelector) and has
 *   `Ingress` in policyTypes (which is implied when policyTypes is absent). A pod no policy
 *   selects admits everything.
 * - An isolated pod admits a connection that some rule of some selecting policy admits: `from`
 *   absent or empty admits every source, `ports` absent or empty every port. Policies add up.
 * - A peer with only podSelector means pods of the policy's own namespace; only namespaceSelector,
 *   every pod of the matching namespaces; both in one entry, pods matching both; ipBlock, source
 *   addresses in the CIDR and outside its `except`.
 * - A port is a number (up to endPort when given) or a container port's name; the protocol
 *   defaults to TCP.
 *
 * Not modelled: egress, and the node's own traffic (the kubelet's probes), which no policy blocks.
 */
import type { K8sObject } from './deploy-tools';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface NetworkPolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
export interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: LabelSelector;
    policyTypes?: string[];
    ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
    egress?: unknown[];
  };
}

/** Where a connection comes from: a pod, or an address that is no pod's. */
export type Source =
  | { name: string; kind: 'pod'; namespace: string; namespaceLabels: Record<string, string>; labels: Record<string, string>; ip: string }
  | { name: string; kind: 'address'; ip: string };

/** The pod and container port a connection goes to. */
export interface Destination {
  namespace: string;
  labels: Record<string, string>;
  port: { name?: string; containerPort: number; protocol?: string };
}

/** Whether a label selector matches a label set (an empty selector matches everything). */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        throw new Error(`unknown selector operator ${String(e.operator)}`);
    }
  }
  return true;
}

function ipv4(address: string): number {
  const parts = address.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new Error(`not an IPv4 address: ${address}`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** Whether an IPv4 address is inside a CIDR block. */
export function inCidr(address: string, cidr: string): boolean {
  const [base = '', bitsText = ''] = cidr.split('/');
  const bits = Number(bitsText);
  if (!/^\d{1,2}$/.test(bitsText) || bits > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4(address) / size) === Math.floor(ipv4(base) / size);
}

function peerMatches(peer: NetworkPolicyPeer, policyNamespace: string, source: Source): boolean {
  if (peer.ipBlock) {
    return inCidr(source.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(source.ip, c));
  }
  if (!peer.podSelector && !peer.namespaceSelector) throw new Error('a NetworkPolicy peer needs podSelector, namespaceSelector or ipBlock');
  if (source.kind !== 'pod') return false;
  const namespaceOk = peer.namespaceSelector ? selectorMatches(peer.namespaceSelector, source.namespaceLabels) : source.namespace === policyNamespace;
  return namespaceOk && (!peer.podSelector || selectorMatches(peer.podSelector, source.labels));
}

function portMatches(rulePort: NetworkPolicyPort, port: Destination['port']): boolean {
  if ((rulePort.protocol ?? 'TCP') !== (port.protocol ?? 'TCP')) return false;
  if (rulePort.port === undefined) return true;
  if (typeof rulePort.port === 'string') return rulePort.port === port.name;
  return port.containerPort >= rulePort.port && port.containerPort <= (rulePort.endPort ?? rulePort.port);
}

const isIngressPolicy = (p: NetworkPolicy): boolean => (p.spec.policyTypes ? p.spec.policyTypes.includes('Ingress') : true);

/** The ingress policies that select a destination pod (none: the pod is not isolated). */
export function selectingPolicies(policies: NetworkPolicy[], destination: Pick<Destination, 'namespace' | 'labels'>): NetworkPolicy[] {
  return policies.filter((p) => isIngressPolicy(p) && p.metadata.namespace === destination.namespace && selectorMatches(p.spec.podSelector, destination.labels));
}

/** Whether the policies admit a connection from the source to the destination's port. */
export function admits(policies: NetworkPolicy[], destination: Destination, source: Source): boolean {
  const selecting = selectingPolicies(policies, destination);
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    (policy.spec.ingress ?? []).some((rule) => {
      const fromOk = !rule.from?.length || rule.from.some((peer) => peerMatches(peer, destination.namespace, source));
      const portOk = !rule.ports?.length || rule.ports.some((p) => portMatches(p, destination.port));
      return fromOk && portOk;
    }),
  );
}

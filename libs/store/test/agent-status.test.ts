import { expect } from 'chai';
import { AGENT_STATUSES, OFFLINE_AFTER_MS, deriveAgentStatus } from '@fleet/store';
import type { AgentDoc, AgentStatus, StatusContext } from '@fleet/store';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();

/** A healthy agent that checked in 10 s ago on revision 3 of its policy: 'online'. */
function agent(overrides: Partial<AgentDoc> = {}): AgentDoc {
  return {
    active: true,
    type: 'PERMANENT',
    enrolled_at: ago(86_400_000),
    policy_id: 'policy-1',
    access_api_key_id: 'key-1',
    agent: { id: 'agent-1', version: '8.15.0' },
    local_metadata: {},
    tags: [],
    action_seq_no: [-1],
    last_checkin: ago(10_000),
    last_checkin_status: 'online',
    policy_revision_idx: 3,
    ...overrides,
  };
}

interface Case {
  when: string;
  doc: AgentDoc;
  ctx?: Partial<StatusContext>;
  status: AgentStatus;
}

const cases: Case[] = [
  { when: 'it checked in recently on the latest revision', doc: agent(), ctx: { latestPolicyRevision: 3 }, status: 'online' },
  { when: 'it is ahead of the known latest revision', doc: agent({ policy_revision_idx: 4 }), ctx: { latestPolicyRevision: 3 }, status: 'online' },
  { when: 'the latest revision is unknown', doc: agent(), status: 'online' },
  { when: 'it checked in exactly at the offline threshold', doc: agent({ last_checkin: ago(OFFLINE_AFTER_MS) }), status: 'online' },
  { when: 'its last checkin is 10 minutes old', doc: agent({ last_checkin: ago(10 * 60_000) }), status: 'offline' },
  { when: 'its last checkin is just past the offline threshold', doc: agent({ last_checkin: ago(OFFLINE_AFTER_MS + 1) }), status: 'offline' },
  { when: 'it is inactive without unenrolled_at', doc: agent({ active: false }), status: 'inactive' },
  {
    when: 'it exceeded the policy inactivity timeout',
    doc: agent({ last_checkin: ago(2 * 3_600_000) }),
    ctx: { inactivityTimeoutSeconds: 3600 },
    status: 'inactive',
  },
  {
    when: 'the inactivity timeout is 0',
    doc: agent({ last_checkin: ago(30 * 86_400_000) }),
    ctx: { inactivityTimeoutSeconds: 0 },
    status: 'offline',
  },
  {
    when: 'it is within the inactivity timeout but past the offline threshold',
    doc: agent({ last_checkin: ago(10 * 60_000) }),
    ctx: { inactivityTimeoutSeconds: 3600 },
    status: 'offline',
  },
  { when: 'it is inactive with unenrolled_at', doc: agent({ active: false, unenrolled_at: ago(60_000) }), status: 'unenrolled' },
  {
    when: 'it is inactive with unenrolled_at and an uninstall audit reason',
    doc: agent({ active: false, unenrolled_at: ago(60_000), audit_unenrolled_reason: 'uninstall' }),
    status: 'unenrolled',
  },
  { when: 'it never checked in', doc: agent({ last_checkin: undefined, policy_revision_idx: null }), status: 'enrolling' },
  {
    when: 'it never checked in and is past any threshold since enrolment',
    doc: agent({ last_checkin: undefined, enrolled_at: ago(30 * 86_400_000) }),
    ctx: { inactivityTimeoutSeconds: 60 },
    status: 'enrolling',
  },
  { when: 'unenrollment started and has not finished', doc: agent({ unenrollment_started_at: ago(5_000) }), status: 'unenrolling' },
  {
    when: 'unenrollment started and the agent is offline',
    doc: agent({ unenrollment_started_at: ago(5_000), last_checkin: ago(10 * 60_000) }),
    status: 'offline',
  },
  { when: 'it reports error', doc: agent({ last_checkin_status: 'error' }), status: 'error' },
  { when: 'it reports degraded', doc: agent({ last_checkin_status: 'degraded' }), status: 'degraded' },
  { when: 'it reports DEGRADED in capitals, as the agent sends it', doc: agent({ last_checkin_status: 'DEGRADED' }), status: 'degraded' },
  { when: 'it reports ERROR in capitals', doc: agent({ last_checkin_status: 'ERROR' }), status: 'error' },
  {
    // Kibana's runtime field: a failed upgrade keeps upgraded_at unset, so it stays updating.
    when: 'its upgrade failed while an upgrade was started',
    doc: agent({ upgrade_started_at: ago(60_000), upgraded_at: null, upgrade_details: { target_version: '8.16.0', action_id: 'a', state: 'UPG_FAILED' } }),
    status: 'updating',
  },
  {
    when: 'it reports upgrade details without an upgrade started by the server',
    doc: agent({ upgrade_details: { target_version: '8.16.0', action_id: 'a', state: 'UPG_DOWNLOADING' } }),
    status: 'online',
  },
  { when: 'its upgrade started and has not finished', doc: agent({ upgrade_started_at: ago(5_000), upgraded_at: null }), status: 'updating' },
  {
    when: 'its upgrade started and finished',
    doc: agent({ upgrade_started_at: ago(50_000), upgraded_at: ago(5_000), upgrade_details: null }),
    status: 'online',
  },
  { when: 'it runs an older revision than the latest', doc: agent({ policy_revision_idx: 2 }), ctx: { latestPolicyRevision: 3 }, status: 'updating' },
  { when: 'it has not acknowledged any revision (null)', doc: agent({ policy_revision_idx: null }), status: 'updating' },
  { when: 'it has not acknowledged any revision (absent)', doc: agent({ policy_revision_idx: undefined }), status: 'updating' },
  { when: 'it was orphaned', doc: agent({ audit_unenrolled_reason: 'orphaned' }), status: 'orphaned' },
  {
    when: 'it was orphaned and has not checked in for long',
    doc: agent({ audit_unenrolled_reason: 'orphaned', last_checkin: ago(30 * 86_400_000) }),
    status: 'orphaned',
  },
  { when: 'it was uninstalled', doc: agent({ audit_unenrolled_reason: 'uninstall' }), status: 'uninstalled' },
  {
    when: 'it was uninstalled and never checked in',
    doc: agent({ audit_unenrolled_reason: 'uninstall', last_checkin: undefined }),
    status: 'uninstalled',
  },
  {
    when: 'it is degraded and offline',
    doc: agent({ last_checkin_status: 'degraded', last_checkin: ago(10 * 60_000) }),
    status: 'offline',
  },
  {
    when: 'it reports error while running an older revision',
    doc: agent({ last_checkin_status: 'error', policy_revision_idx: 1 }),
    ctx: { latestPolicyRevision: 3 },
    status: 'error',
  },
];

describe('deriveAgentStatus', function () {
  for (const c of cases) {
    it(`When ${c.when}, then the status is ${c.status}`, function () {
      expect(deriveAgentStatus(c.doc, { now: NOW, ...c.ctx })).to.equal(c.status);
    });
  }

  it('When the table is checked, then it covers every status deriveAgentStatus can return', function () {
    const covered = new Set(cases.map((c) => c.status));
    expect([...AGENT_STATUSES].filter((s) => !covered.has(s))).to.deep.equal([]);
  });

  it('When the evaluation time moves forward, then an online agent becomes offline', function () {
    const doc = agent();
    expect(deriveAgentStatus(doc, { now: NOW })).to.equal('online');
    expect(deriveAgentStatus(doc, { now: new Date(NOW.getTime() + OFFLINE_AFTER_MS) })).to.equal('offline');
  });
});

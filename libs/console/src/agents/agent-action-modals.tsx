import {
  EuiCallOut,
  EuiComboBox,
  EuiConfirmModal,
  EuiFieldText,
  EuiFormRow,
  EuiSelect,
  EuiSpacer,
  EuiSwitch,
  EuiText,
  type EuiComboBoxOptionOption,
} from '@elastic/eui';
import { useState, type ReactNode } from 'react';
import { errorMessage } from '../api-client';
import { useApiResource } from '../hooks/use-api-resource';
import {
  bulkUpdateTags,
  reassignAgents,
  requestDiagnostics,
  setAgentTags,
  targetLabel,
  unenrollAgents,
  upgradeAgents,
  type ActionOutcome,
  type AgentTarget,
} from './agent-actions';
import type { AgentPolicySummary } from './agent-types';

export type AgentActionKind = 'reassign' | 'upgrade' | 'unenroll' | 'addTags' | 'removeTags' | 'editTags' | 'diagnostics';

export interface AgentActionRequest {
  kind: AgentActionKind;
  target: AgentTarget;
}

interface ModalProps {
  request: AgentActionRequest;
  onClose: () => void;
  /** Called with the outcome once the API accepted the action. */
  onDone: (outcome: ActionOutcome) => void;
}

/** Policies offered for reassignment (one bounded page; the select shows name and namespace). */
const POLICY_PAGE = 1000;
const MAX_TAG_LENGTH = 256;
const ROLLOUTS = [
  { value: '0', text: 'Immediately' },
  { value: '3600', text: 'Over 1 hour' },
  { value: '7200', text: 'Over 2 hours' },
  { value: '21600', text: 'Over 6 hours' },
  { value: '43200', text: 'Over 12 hours' },
  { value: '86400', text: 'Over 24 hours' },
];

/** The confirmation (EuiConfirmModal) of an action on agents, asking what the action needs. */
export function AgentActionModal(props: ModalProps) {
  switch (props.request.kind) {
    case 'reassign':
      return <ReassignModal {...props} />;
    case 'upgrade':
      return <UpgradeModal {...props} />;
    case 'unenroll':
      return <UnenrollModal {...props} />;
    case 'diagnostics':
      return <DiagnosticsModal {...props} />;
    default:
      return <TagsModal {...props} />;
  }
}

/** Runs the call while the modal shows a spinner; a refusal stays in the modal, in the API's words. */
function useSubmit(props: ModalProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const submit = (call: () => Promise<ActionOutcome>) => {
    setBusy(true);
    setError(undefined);
    call()
      .then((outcome) => {
        setBusy(false);
        props.onDone(outcome);
      })
      .catch((err: unknown) => {
        setBusy(false);
        setError(errorMessage(err));
      });
  };
  const errorCallout: ReactNode = error ? (
    <>
      <EuiSpacer size="m" />
      <EuiCallOut color="danger" iconType="error" title="The action was refused" data-test-subj="actionModalError" role="alert">
        {error}
      </EuiCallOut>
    </>
  ) : null;
  return { busy, submit, errorCallout };
}

function ReassignModal(props: ModalProps) {
  const { target } = props.request;
  const current = target.kind === 'agent' ? target.agent.policy_id : undefined;
  const policies = useApiResource<{ items: AgentPolicySummary[]; total: number }>('/api/fleet/agent_policies', { perPage: POLICY_PAGE });
  const [policyId, setPolicyId] = useState('');
  const { busy, submit, errorCallout } = useSubmit(props);
  const options = (policies.data?.items ?? []).filter((p) => p.id !== current && !p.is_managed);
  return (
    <EuiConfirmModal
      title={`Assign ${targetLabel(target)} to a new policy`}
      onCancel={props.onClose}
      onConfirm={() => submit(() => reassignAgents(target, policyId))}
      cancelButtonText="Cancel"
      confirmButtonText="Assign policy"
      confirmButtonDisabled={!policyId}
      isLoading={busy}
      data-test-subj="reassignModal"
    >
      <EuiText size="s">
        <p>The agents get the new policy at their next check-in; their current policy's inputs stop.</p>
      </EuiText>
      <EuiSpacer size="m" />
      <EuiFormRow label="Agent policy" isInvalid={!!policies.error} error={policies.error ? errorMessage(policies.error) : undefined}>
        <EuiSelect
          data-test-subj="reassignPolicySelect"
          isLoading={policies.isLoading}
          hasNoInitialSelection
          value={policyId}
          onChange={(e) => setPolicyId(e.target.value)}
          options={options.map((p) => ({ value: p.id, text: `${p.name} (${p.namespace})` }))}
        />
      </EuiFormRow>
      {errorCallout}
    </EuiConfirmModal>
  );
}

function UpgradeModal(props: ModalProps) {
  const { target } = props.request;
  const [version, setVersion] = useState('');
  const [sourceUri, setSourceUri] = useState('');
  const [rollout, setRollout] = useState('0');
  const { busy, submit, errorCallout } = useSubmit(props);
  const valid = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/.test(version.trim());
  return (
    <EuiConfirmModal
      title={`Upgrade ${targetLabel(target)}`}
      onCancel={props.onClose}
      onConfirm={() =>
        submit(() =>
          upgradeAgents(target, {
            version: version.trim(),
            ...(sourceUri.trim() ? { source_uri: sourceUri.trim() } : {}),
            ...(rollout !== '0' ? { rollout_duration_seconds: Number(rollout) } : {}),
          }),
        )
      }
      cancelButtonText="Cancel"
      confirmButtonText="Upgrade"
      confirmButtonDisabled={!valid}
      isLoading={busy}
      data-test-subj="upgradeModal"
    >
      <EuiFormRow label="Upgrade version" helpText="At most this Fleet Server's minor version, e.g. 8.15.0" isInvalid={!!version && !valid} error="A version like 8.15.0">
        <EuiFieldText data-test-subj="upgradeVersionInput" value={version} onChange={(e) => setVersion(e.target.value)} isInvalid={!!version && !valid} />
      </EuiFormRow>
      <EuiFormRow label="Binary source (optional)" helpText="Where agents download the package; must be on the server's allow-list">
        <EuiFieldText data-test-subj="upgradeSourceUriInput" value={sourceUri} onChange={(e) => setSourceUri(e.target.value)} placeholder="https://artifacts.elastic.co/downloads/" />
      </EuiFormRow>
      {target.kind === 'bulk' && (
        <EuiFormRow label="Rolling upgrade" helpText="Agents start their upgrade at random times within this window">
          <EuiSelect data-test-subj="upgradeRolloutSelect" value={rollout} onChange={(e) => setRollout(e.target.value)} options={ROLLOUTS} />
        </EuiFormRow>
      )}
      {errorCallout}
    </EuiConfirmModal>
  );
}

function UnenrollModal(props: ModalProps) {
  const { target } = props.request;
  const [revoke, setRevoke] = useState(false);
  const { busy, submit, errorCallout } = useSubmit(props);
  return (
    <EuiConfirmModal
      title={`Unenroll ${targetLabel(target)}?`}
      onCancel={props.onClose}
      onConfirm={() => submit(() => unenrollAgents(target, revoke))}
      cancelButtonText="Cancel"
      confirmButtonText="Unenroll"
      buttonColor="danger"
      isLoading={busy}
      data-test-subj="unenrollModal"
    >
      <EuiText size="s">
        <p>The agents stop sending data and leave Fleet. Unenrolled agents cannot be enrolled again without a new enrollment token.</p>
      </EuiText>
      <EuiSpacer size="m" />
      <EuiSwitch
        data-test-subj="unenrollRevokeSwitch"
        label="Remove now: revoke the agents' keys without waiting for them to acknowledge"
        checked={revoke}
        onChange={(e) => setRevoke(e.target.checked)}
      />
      {errorCallout}
    </EuiConfirmModal>
  );
}

function DiagnosticsModal(props: ModalProps) {
  const { target } = props.request;
  const { busy, submit, errorCallout } = useSubmit(props);
  return (
    <EuiConfirmModal
      title={`Request diagnostics from ${targetLabel(target)}`}
      onCancel={props.onClose}
      onConfirm={() => submit(() => requestDiagnostics(target))}
      cancelButtonText="Cancel"
      confirmButtonText="Request diagnostics"
      isLoading={busy}
      data-test-subj="diagnosticsModal"
    >
      <EuiText size="s">
        <p>
          Each agent (8.7 or later) collects a diagnostics archive and uploads it; it can be downloaded from the agent's Diagnostics tab for 3
          hours. Agents that are inactive or too old are skipped.
        </p>
      </EuiText>
      {errorCallout}
    </EuiConfirmModal>
  );
}

const tagOption = (tag: string): EuiComboBoxOptionOption<string> => ({ label: tag, 'data-test-subj': `tagOption-${tag}` });

function TagsModal(props: ModalProps) {
  const { kind, target } = props.request;
  const initial = kind === 'editTags' && target.kind === 'agent' ? target.agent.tags : [];
  const [selected, setSelected] = useState<string[]>(initial);
  const known = useApiResource<{ items: string[] }>('/api/fleet/agents/tags');
  const { busy, submit, errorCallout } = useSubmit(props);
  const removing = kind === 'removeTags';
  const options = [...new Set([...(known.data?.items ?? []), ...selected])].sort().map(tagOption);
  const title = removing ? `Remove tags from ${targetLabel(target)}` : kind === 'addTags' ? `Add tags to ${targetLabel(target)}` : `Edit tags of ${targetLabel(target)}`;

  const onConfirm = () =>
    submit(() => {
      if (target.kind === 'agent' && kind === 'editTags') return setAgentTags(target.agent, selected);
      if (target.kind === 'agent') {
        const tags = removing ? target.agent.tags.filter((t) => !selected.includes(t)) : [...new Set([...target.agent.tags, ...selected])];
        return setAgentTags(target.agent, tags);
      }
      return bulkUpdateTags(target, removing ? [] : selected, removing ? selected : []);
    });

  return (
    <EuiConfirmModal
      title={title}
      onCancel={props.onClose}
      onConfirm={onConfirm}
      cancelButtonText="Cancel"
      confirmButtonText={removing ? 'Remove tags' : 'Save tags'}
      buttonColor={removing ? 'danger' : 'primary'}
      confirmButtonDisabled={kind !== 'editTags' && selected.length === 0}
      isLoading={busy}
      data-test-subj="tagsModal"
    >
      <EuiFormRow
        label="Tags"
        helpText={removing ? 'Tags to take off each agent' : 'Pick existing tags or type a new one and press Enter'}
        isInvalid={!!known.error}
        error={known.error ? errorMessage(known.error) : undefined}
      >
        <EuiComboBox<string>
          data-test-subj="tagsComboBox"
          aria-label="Tags"
          isLoading={known.isLoading}
          options={options}
          selectedOptions={selected.map(tagOption)}
          onChange={(opts) => setSelected(opts.map((o) => o.label))}
          onCreateOption={
            removing
              ? undefined
              : (value) => {
                  const tag = value.trim();
                  if (tag && tag.length <= MAX_TAG_LENGTH && !selected.includes(tag)) setSelected([...selected, tag]);
                }
          }
          customOptionText="Add {searchValue} as a new tag"
        />
      </EuiFormRow>
      {errorCallout}
    </EuiConfirmModal>
  );
}

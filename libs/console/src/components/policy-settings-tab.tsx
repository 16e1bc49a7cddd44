import { EuiButton, EuiCallOut, EuiDescribedFormGroup, EuiFlexGroup, EuiFlexItem, EuiForm, EuiSpacer, EuiText, EuiTitle } from '@elastic/eui';
import { useState, type FormEvent } from 'react';
import { apiFetch, errorMessage } from '../api-client';
import { rolloutPathOfPolicy, type AgentPolicy } from '../fleet-types';
import { ConsoleLink } from './console-link';
import { PolicyFormFields, policyFormProblems, policyFormValuesOf, type PolicyFormValues } from './policy-form-fields';
import { toastSuccess } from './toasts';

/** The body of the PUT: only what differs from the stored policy. */
function settingsChanges(v: PolicyFormValues, p: AgentPolicy): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (v.name.trim() !== p.name) out.name = v.name.trim();
  if (v.namespace !== p.namespace) out.namespace = v.namespace;
  if (v.description !== (p.description ?? '')) out.description = v.description;
  const monitoring = [...v.monitoring].sort();
  if (monitoring.join() !== [...p.monitoring_enabled].sort().join()) out.monitoring_enabled = monitoring;
  if (v.inactivityTimeout !== p.inactivity_timeout) out.inactivity_timeout = v.inactivityTimeout;
  if (v.unenrollTimeout !== undefined && v.unenrollTimeout !== p.unenroll_timeout) out.unenroll_timeout = v.unenrollTimeout;
  return out;
}

/** Kibana's policy "Settings" tab: name, description, namespace, monitoring, timeouts; saved with PUT. */
export function PolicySettingsTab({ policy, canEdit, onSaved }: { policy: AgentPolicy; canEdit: boolean; onSaved: (p: AgentPolicy) => void }) {
  const [values, setValues] = useState<PolicyFormValues>(() => policyFormValuesOf(policy));
  const [basedOn, setBasedOn] = useState(policy);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState<AgentPolicy | undefined>();
  // The policy was reloaded (another tab saved): the form starts again from it.
  if (basedOn !== policy) {
    setBasedOn(policy);
    setValues(policyFormValuesOf(policy));
  }
  const problems = policyFormProblems(values);
  const changes = settingsChanges(values, policy);
  const dirty = Object.keys(changes).length > 0;

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    if (!dirty || Object.keys(problems).length > 0) return;
    setBusy(true);
    setError(undefined);
    apiFetch<{ item: AgentPolicy }>(`/api/fleet/agent_policies/${encodeURIComponent(policy.id)}`, { method: 'PUT', body: changes })
      .then(({ item }) => {
        setSaved(item);
        toastSuccess(`Saved '${item.name}' as revision ${item.revision}`);
        onSaved(item);
      })
      .catch((err: unknown) => setError(errorMessage(err)))
      .finally(() => setBusy(false));
  };

  return (
    <EuiForm component="form" onSubmit={submit} isInvalid={Object.keys(problems).length > 0} data-test-subj="policySettingsForm">
      {error && (
        <>
          <EuiCallOut title="The settings were not saved" color="danger" iconType="error" data-test-subj="pageError" role="alert">
            {error}
          </EuiCallOut>
          <EuiSpacer />
        </>
      )}
      {saved && (
        <>
          <EuiCallOut title={`Saved as revision ${saved.revision}`} color="success" iconType="check" data-test-subj="policySettingsSaved">
            <ConsoleLink to={rolloutPathOfPolicy(saved.id, saved.revision)} data-test-subj="viewRolloutLink">
              Follow its rollout to the agents
            </ConsoleLink>
          </EuiCallOut>
          <EuiSpacer />
        </>
      )}
      <EuiDescribedFormGroup
        fullWidth
        title={<h3>Agent policy settings</h3>}
        description={
          <EuiText size="s">
            <p>Every saved change writes a new revision that the agents on this policy pick up at their next check-in.</p>
          </EuiText>
        }
      >
        <PolicyFormFields values={values} onChange={setValues} problems={problems} withTimeouts disabled={!canEdit} />
      </EuiDescribedFormGroup>
      <EuiSpacer />
      <EuiFlexGroup justifyContent="flexEnd" gutterSize="s" responsive={false}>
        <EuiFlexItem grow={false}>
          <EuiButton onClick={() => setValues(policyFormValuesOf(policy))} isDisabled={!dirty || busy}>
            Cancel
          </EuiButton>
        </EuiFlexItem>
        <EuiFlexItem grow={false}>
          <EuiButton type="submit" fill isLoading={busy} isDisabled={!canEdit || !dirty || Object.keys(problems).length > 0} data-test-subj="savePolicySettings">
            Save changes
          </EuiButton>
        </EuiFlexItem>
      </EuiFlexGroup>
      {!canEdit && (
        <>
          <EuiSpacer size="s" />
          <EuiTitle size="xxs">
            <p>Only admins can change agent policies.</p>
          </EuiTitle>
        </>
      )}
    </EuiForm>
  );
}

import {
  EuiButton,
  EuiButtonEmpty,
  EuiCallOut,
  EuiFlexGroup,
  EuiFlexItem,
  EuiFlyout,
  EuiFlyoutBody,
  EuiFlyoutFooter,
  EuiFlyoutHeader,
  EuiForm,
  EuiSpacer,
  EuiText,
  EuiTitle,
  useGeneratedHtmlId,
} from '@elastic/eui';
import { useState, type FormEvent } from 'react';
import { apiFetch, errorMessage } from '../api-client';
import type { AgentPolicy } from '../fleet-types';
import { emptyPolicyForm, PolicyFormFields, policyFormProblems, type PolicyFormValues } from './policy-form-fields';

/** Kibana's "Create agent policy" flyout: name, namespace, description, monitoring. */
export function CreatePolicyFlyout({ onClose, onCreated }: { onClose: () => void; onCreated: (policy: AgentPolicy) => void }) {
  const titleId = useGeneratedHtmlId({ prefix: 'createPolicy' });
  const [values, setValues] = useState<PolicyFormValues>(emptyPolicyForm);
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [touched, setTouched] = useState(false);
  const problems = policyFormProblems(values);

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    setTouched(true);
    if (Object.keys(problems).length > 0) return;
    setBusy(true);
    setError(undefined);
    apiFetch<{ item: AgentPolicy }>('/api/fleet/agent_policies', {
      method: 'POST',
      body: {
        name: values.name.trim(),
        namespace: values.namespace,
        description: values.description,
        monitoring_enabled: values.monitoring,
        inactivity_timeout: values.inactivityTimeout,
      },
    })
      .then((r) => onCreated(r.item))
      .catch((err: unknown) => setError(errorMessage(err)))
      .finally(() => setBusy(false));
  };

  return (
    <EuiFlyout onClose={onClose} size="m" aria-labelledby={titleId} data-test-subj="createPolicyFlyout" ownFocus>
      <EuiFlyoutHeader hasBorder>
        <EuiTitle size="m">
          <h2 id={titleId}>Create agent policy</h2>
        </EuiTitle>
        <EuiSpacer size="s" />
        <EuiText size="s" color="subdued">
          <p>Agents enrolled with this policy get its outputs, inputs and agent settings. Add content on the policy&apos;s page.</p>
        </EuiText>
      </EuiFlyoutHeader>
      <EuiFlyoutBody>
        {error && (
          <>
            <EuiCallOut title="The policy was not created" color="danger" iconType="error" data-test-subj="pageError" role="alert">
              {error}
            </EuiCallOut>
            <EuiSpacer />
          </>
        )}
        <EuiForm component="form" id="createPolicyForm" onSubmit={submit} isInvalid={touched && Object.keys(problems).length > 0}>
          <PolicyFormFields values={values} onChange={setValues} problems={touched ? problems : {}} />
          {/* Enter in a field submits the form. */}
          <button type="submit" hidden aria-hidden tabIndex={-1} />
        </EuiForm>
      </EuiFlyoutBody>
      <EuiFlyoutFooter>
        <EuiFlexGroup justifyContent="spaceBetween">
          <EuiFlexItem grow={false}>
            <EuiButtonEmpty onClick={onClose} iconType="cross">
              Cancel
            </EuiButtonEmpty>
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <EuiButton fill onClick={() => submit()} isLoading={busy} data-test-subj="createPolicySubmit">
              Create agent policy
            </EuiButton>
          </EuiFlexItem>
        </EuiFlexGroup>
      </EuiFlyoutFooter>
    </EuiFlyout>
  );
}

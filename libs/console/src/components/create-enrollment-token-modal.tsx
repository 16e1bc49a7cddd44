import {
  EuiButton,
  EuiButtonEmpty,
  EuiCallOut,
  EuiFieldText,
  EuiForm,
  EuiFormRow,
  EuiModal,
  EuiModalBody,
  EuiModalFooter,
  EuiModalHeader,
  EuiModalHeaderTitle,
  EuiSelect,
  EuiSpacer,
  EuiText,
  useGeneratedHtmlId,
} from '@elastic/eui';
import { useState, type FormEvent } from 'react';
import { apiFetch, errorMessage } from '../api-client';
import { CA_FLAG, enrollCommand } from '../enroll-command';
import type { AgentPolicy, EnrollmentToken } from '../fleet-types';
import { CodeBlock } from './code-block';

/**
 * Kibana's "Create enrollment token": a name and a policy; the answer carries the token, shown here
 * once (the server keeps only its hash) together with the command that enrolls an agent with it.
 */
export function CreateEnrollmentTokenModal({
  policies,
  initialPolicyId,
  onClose,
  onCreated,
}: {
  policies: AgentPolicy[];
  initialPolicyId: string | undefined;
  onClose: () => void;
  onCreated: (token: EnrollmentToken) => void;
}) {
  const titleId = useGeneratedHtmlId({ prefix: 'createToken' });
  const [name, setName] = useState('');
  const [policyId, setPolicyId] = useState(initialPolicyId ?? policies[0]?.id ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [created, setCreated] = useState<EnrollmentToken | undefined>();
  const nameProblem = name.length > 256 ? 'At most 256 characters.' : undefined;

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    if (!policyId || nameProblem) return;
    setBusy(true);
    setError(undefined);
    apiFetch<{ item: EnrollmentToken }>('/api/fleet/enrollment_api_keys', {
      method: 'POST',
      body: { policy_id: policyId, ...(name.trim() ? { name: name.trim() } : {}) },
    })
      .then(({ item }) => {
        setCreated(item);
        onCreated(item);
      })
      .catch((err: unknown) => setError(errorMessage(err)))
      .finally(() => setBusy(false));
  };

  const origin = window.location.origin;
  const https = window.location.protocol === 'https:';
  const policyName = (id: string) => policies.find((p) => p.id === id)?.name ?? id;

  return (
    <EuiModal onClose={onClose} aria-labelledby={titleId} data-test-subj="createEnrollmentTokenModal" style={{ width: 720 }}>
      <EuiModalHeader>
        <EuiModalHeaderTitle id={titleId}>{created ? 'Enrollment token created' : 'Create enrollment token'}</EuiModalHeaderTitle>
      </EuiModalHeader>
      <EuiModalBody>
        {created?.api_key ? (
          <>
            <EuiCallOut title="Copy the token now" color="warning" iconType="warning" size="s">
              <p>It is shown only this once: the server keeps a hash of it, not the token.</p>
            </EuiCallOut>
            <EuiSpacer size="m" />
            <EuiText size="s">
              <p>
                Enrollment token <strong>{created.name}</strong> for policy <strong>{policyName(created.policy_id)}</strong>:
              </p>
            </EuiText>
            <EuiSpacer size="s" />
            {/* Tokens and commands are long unbroken strings: they wrap anywhere rather than scroll. */}
            <div style={{ wordBreak: 'break-all' }}>
              <CodeBlock isCopyable paddingSize="m" fontSize="m" whiteSpace="pre-wrap" data-test-subj="enrollmentTokenSecret">
                {created.api_key}
              </CodeBlock>
            </div>
            <EuiSpacer size="m" />
            <EuiText size="s">
              <p>On the host, with Elastic Agent installed, enroll it:</p>
            </EuiText>
            <EuiSpacer size="s" />
            <div style={{ wordBreak: 'break-all' }}>
              <CodeBlock language="sh" isCopyable paddingSize="m" whiteSpace="pre-wrap" data-test-subj="enrollCommand">
                {enrollCommand(origin, created.api_key)}
              </CodeBlock>
            </div>
            <EuiSpacer size="s" />
            {https ? (
              <EuiCallOut title="Certificate authority" iconType="lock" size="s" data-test-subj="enrollCaNote">
                <p>
                  When the server uses the CA it generated for itself (the default of <code>npm start</code> without a
                  configured certificate), add <code>{CA_FLAG}</code> with the CA file from the server&apos;s data directory
                  (<code>npm start</code> prints the full command), so the agent verifies the server.
                </p>
              </EuiCallOut>
            ) : (
              <EuiText size="xs" color="subdued" data-test-subj="enrollInsecureNote">
                <p>
                  The console is served over plain HTTP, so the agent needs <code>--insecure</code> to enroll.
                </p>
              </EuiText>
            )}
          </>
        ) : (
          <EuiForm component="form" id="createEnrollmentTokenForm" onSubmit={submit}>
            {error && (
              <>
                <EuiCallOut title="The token was not created" color="danger" iconType="error" data-test-subj="pageError" role="alert">
                  {error}
                </EuiCallOut>
                <EuiSpacer />
              </>
            )}
            <EuiFormRow label="Name" labelAppend="Optional" helpText="The server appends the token's id." isInvalid={!!nameProblem} error={nameProblem} fullWidth>
              <EuiFieldText
                fullWidth
                value={name}
                onChange={(e) => setName(e.target.value)}
                placeholder="Default"
                data-test-subj="enrollmentTokenNameInput"
                isInvalid={!!nameProblem}
              />
            </EuiFormRow>
            <EuiFormRow label="Agent policy" fullWidth>
              <EuiSelect
                fullWidth
                options={policies.map((p) => ({ value: p.id, text: p.name }))}
                value={policyId}
                onChange={(e) => setPolicyId(e.target.value)}
                hasNoInitialSelection={!policyId}
                data-test-subj="enrollmentTokenPolicySelect"
              />
            </EuiFormRow>
            <button type="submit" hidden aria-hidden tabIndex={-1} />
          </EuiForm>
        )}
      </EuiModalBody>
      <EuiModalFooter>
        {created ? (
          <EuiButton fill onClick={onClose} data-test-subj="closeEnrollmentTokenModal">
            Done
          </EuiButton>
        ) : (
          <>
            <EuiButtonEmpty onClick={onClose}>Cancel</EuiButtonEmpty>
            <EuiButton fill onClick={() => submit()} isLoading={busy} isDisabled={!policyId || !!nameProblem} data-test-subj="createEnrollmentTokenSubmit">
              Create enrollment token
            </EuiButton>
          </>
        )}
      </EuiModalFooter>
    </EuiModal>
  );
}

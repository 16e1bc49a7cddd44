import {
  EuiButton,
  EuiButtonEmpty,
  EuiCallOut,
  EuiFlexGroup,
  EuiFlexItem,
  EuiModal,
  EuiModalBody,
  EuiModalFooter,
  EuiModalHeader,
  EuiModalHeaderTitle,
  EuiSpacer,
  EuiText,
  useGeneratedHtmlId,
} from '@elastic/eui';
import { useCallback, useMemo, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { apiFetch, errorMessage } from '../api-client';
import { rolloutPathOfPolicy, type AgentPolicy } from '../fleet-types';
import { prettyJson } from '../format';
import { contentDocument, contentProblems, contentUpdate, parseContent, type PolicyContent } from '../policy-content';
import { JsonDiffView } from './json-diff-view';
import { JsonEditor } from './json-editor';
import { toastSuccess } from './toasts';

interface Review {
  /** The policy as stored when the review opened (it may have moved on since editing began). */
  current: AgentPolicy;
  before: string;
  after: string;
  body: PolicyContent;
}

/**
 * The policy's agent-facing content in a JSON editor: lint while typing, "Review changes" shows
 * the diff against the stored revision, "Save" writes a new revision and opens its rollout.
 * Loaded on demand (CodeMirror is most of this chunk).
 */
export default function PolicyContentEditor({
  policy,
  draft,
  onDraftChange,
  canEdit,
}: {
  policy: AgentPolicy;
  draft: string | undefined;
  onDraftChange: (text: string | undefined) => void;
  canEdit: boolean;
}) {
  const navigate = useNavigate();
  const titleId = useGeneratedHtmlId({ prefix: 'policyDiff' });
  const original = useMemo(() => prettyJson(contentDocument(policy)), [policy]);
  const text = draft ?? original;
  const parsed = parseContent(text);
  const problems = parsed === undefined ? [{ message: 'Not valid JSON.' }] : contentProblems(parsed, policy);
  const changed = parsed !== undefined && prettyJson(parsed) !== original;
  const [review, setReview] = useState<Review | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();

  const check = useCallback((doc: unknown) => contentProblems(doc, policy), [policy]);

  const openReview = () => {
    if (parsed === undefined || problems.length > 0) return;
    setBusy(true);
    setError(undefined);
    apiFetch<{ item: AgentPolicy }>(`/api/fleet/agent_policies/${encodeURIComponent(policy.id)}`)
      .then(({ item }) => {
        const body = contentUpdate(parsed as Record<string, unknown>);
        setReview({
          current: item,
          before: prettyJson(contentDocument(item)),
          after: prettyJson(contentDocument(body)),
          body,
        });
      })
      .catch((err: unknown) => setError(errorMessage(err)))
      .finally(() => setBusy(false));
  };

  const save = () => {
    if (!review) return;
    setBusy(true);
    setError(undefined);
    apiFetch<{ item: AgentPolicy }>(`/api/fleet/agent_policies/${encodeURIComponent(policy.id)}`, { method: 'PUT', body: review.body })
      .then(({ item }) => {
        onDraftChange(undefined);
        toastSuccess(`Saved '${item.name}' as revision ${item.revision}`);
        void navigate(rolloutPathOfPolicy(item.id, item.revision));
      })
      .catch((err: unknown) => setError(errorMessage(err)))
      .finally(() => setBusy(false));
  };

  return (
    <>
      <EuiText size="s" color="subdued">
        <p>
          What agents get besides the settings: <code>outputs</code>, <code>output_permissions</code>, <code>agent</code> and{' '}
          <code>inputs</code>. A field that is <code>null</code> is not set and the server uses its default (the default
          Elasticsearch output, its permissions, agent settings from the monitoring choice, no inputs). In the editor Tab
          indents; press Escape, then Tab, to move on.
        </p>
      </EuiText>
      <EuiSpacer size="m" />
      {error && !review && (
        <>
          <EuiCallOut title="The content was not saved" color="danger" iconType="error" data-test-subj="pageError" role="alert">
            {error}
          </EuiCallOut>
          <EuiSpacer size="m" />
        </>
      )}
      <JsonEditor
        value={text}
        onChange={(t) => onDraftChange(t === original ? undefined : t)}
        check={check}
        ariaLabel={`Content of agent policy ${policy.name}`}
        dataTestSubj="policyContentEditor"
      />
      <EuiSpacer size="m" />
      <EuiFlexGroup gutterSize="s" alignItems="center" responsive={false}>
        <EuiFlexItem grow={false}>
          <EuiButton
            fill
            iconType="inspect"
            onClick={openReview}
            isDisabled={!canEdit || !changed || problems.length > 0}
            isLoading={busy && !review}
            data-test-subj="reviewPolicyChanges"
          >
            Review changes
          </EuiButton>
        </EuiFlexItem>
        <EuiFlexItem grow={false}>
          <EuiButtonEmpty onClick={() => onDraftChange(undefined)} isDisabled={draft === undefined} data-test-subj="discardPolicyChanges">
            Discard changes
          </EuiButtonEmpty>
        </EuiFlexItem>
        <EuiFlexItem>
          <EuiText size="s" color={problems.length > 0 ? 'danger' : 'subdued'} data-test-subj="policyContentStatus" aria-live="polite">
            {problems.length > 0
              ? `${problems.length} problem${problems.length > 1 ? 's' : ''}: ${problems[0]?.message ?? ''}`
              : changed
                ? 'Unsaved changes'
                : canEdit
                  ? 'No changes'
                  : 'Only admins can change policies'}
          </EuiText>
        </EuiFlexItem>
      </EuiFlexGroup>
      {review && (
        <EuiModal onClose={() => setReview(undefined)} aria-labelledby={titleId} maxWidth="95vw" style={{ width: '1200px' }}>
          <EuiModalHeader>
            <EuiModalHeaderTitle id={titleId}>Review changes to &apos;{review.current.name}&apos;</EuiModalHeaderTitle>
          </EuiModalHeader>
          <EuiModalBody>
            {review.current.revision !== policy.revision && (
              <>
                <EuiCallOut title="The policy changed while you edited it" color="warning" iconType="warning">
                  It is now at revision {review.current.revision} (you started from {policy.revision}). The diff is against the
                  new revision; saving replaces its content fields with yours.
                </EuiCallOut>
                <EuiSpacer size="m" />
              </>
            )}
            <EuiText size="s" color="subdued">
              <p>
                Left: revision {review.current.revision}. Right: what saving writes as revision {review.current.revision + 1}.
              </p>
            </EuiText>
            <EuiSpacer size="s" />
            <JsonDiffView before={review.before} after={review.after} dataTestSubj="policyDiff" />
            {error && (
              <>
                <EuiSpacer size="m" />
                <EuiCallOut title="The content was not saved" color="danger" iconType="error" data-test-subj="pageError" role="alert">
                  {error}
                </EuiCallOut>
              </>
            )}
          </EuiModalBody>
          <EuiModalFooter>
            <EuiButtonEmpty onClick={() => setReview(undefined)}>Back to editing</EuiButtonEmpty>
            <EuiButton fill onClick={save} isLoading={busy} data-test-subj="confirmPolicySave">
              Save and roll out
            </EuiButton>
          </EuiModalFooter>
        </EuiModal>
      )}
    </>
  );
}

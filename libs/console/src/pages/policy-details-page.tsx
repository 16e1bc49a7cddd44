import {
  EuiButton,
  EuiButtonEmpty,
  EuiCallOut,
  EuiCopy,
  EuiDescriptionList,
  EuiEmptyPrompt,
  EuiFlexGroup,
  EuiFlexItem,
  EuiFlyout,
  EuiFlyoutBody,
  EuiFlyoutHeader,
  EuiLoadingSpinner,
  EuiPageTemplate,
  EuiSkeletonText,
  EuiSpacer,
  EuiText,
  EuiTitle,
  useGeneratedHtmlId,
} from '@elastic/eui';
import { lazy, Suspense, useState } from 'react';
import { useNavigate, useParams } from 'react-router-dom';
import { ApiError } from '../api-client';
import { ConsoleLink } from '../components/console-link';
import { PageError } from '../components/page-error';
import { PolicyAgentsTab } from '../components/policy-agents-tab';
import { PolicyRevisionsTab } from '../components/policy-revisions-tab';
import { PolicySettingsTab } from '../components/policy-settings-tab';
import { GlobalToasts } from '../components/toasts';
import { kueryEquals, rolloutPathOfPolicy, type AgentPolicy, type JsonObject, type ListAnswer, type OutputCredentialWarning } from '../fleet-types';
import { formatTime, prettyJson } from '../format';
import { useApiResource } from '../hooks/use-api-resource';
import { useUrlState } from '../hooks/use-url-state';
import { canAdminister, useSession } from '../session-context';
import { CodeBlock } from '../components/code-block';

// CodeMirror is only needed on the content tab: its own chunk, loaded when the tab opens.
const PolicyContentEditor = lazy(() => import('../components/policy-content-editor'));

const TABS = [
  { id: 'settings', name: 'Settings' },
  { id: 'content', name: 'Content' },
  { id: 'revisions', name: 'Revisions' },
  { id: 'agents', name: 'Agents' },
] as const;
type TabId = (typeof TABS)[number]['id'];

/** The whole agent-facing policy (`GET /agent_policies/:id/full`) in a flyout. */
function FullPolicyFlyout({ policy, full, onClose }: { policy: AgentPolicy; full: string | undefined; onClose: () => void }) {
  const titleId = useGeneratedHtmlId({ prefix: 'fullPolicy' });
  return (
    <EuiFlyout onClose={onClose} size="m" aria-labelledby={titleId} data-test-subj="fullPolicyFlyout" ownFocus>
      <EuiFlyoutHeader hasBorder>
        <EuiTitle size="m">
          <h2 id={titleId}>&apos;{policy.name}&apos; agent policy</h2>
        </EuiTitle>
      </EuiFlyoutHeader>
      <EuiFlyoutBody>
        {full === undefined ? (
          <EuiSkeletonText lines={10} isLoading contentAriaLabel="Loading the full policy" />
        ) : (
          <CodeBlock language="json" isCopyable lineNumbers overflowHeight="calc(100vh - 160px)" data-test-subj="fullPolicyCode">
            {full}
          </CodeBlock>
        )}
      </EuiFlyoutBody>
    </EuiFlyout>
  );
}

/**
 * One agent policy (Kibana's policy details): header with revision and agents, tabs for settings,
 * content (JSON editor with diff before saving), revisions and agents; the full policy can be
 * viewed and copied. The tab, the open flyout and the revisions page are in the URL.
 */
export function PolicyDetailsPage() {
  const { policyId = '' } = useParams();
  const { session } = useSession();
  const admin = canAdminister(session);
  const url = useUrlState();
  const navigate = useNavigate();
  const tabParam = url.get('tab');
  const tab: TabId = TABS.some((t) => t.id === tabParam) ? (tabParam as TabId) : 'settings';
  const base = `/api/fleet/agent_policies/${encodeURIComponent(policyId)}`;
  const policy = useApiResource<{ item: AgentPolicy; warnings?: OutputCredentialWarning[] }>(base);
  const full = useApiResource<{ item: JsonObject }>(`${base}/full`);
  const agents = useApiResource<ListAnswer<unknown>>('/api/fleet/agents', { kuery: kueryEquals('policy_id', policyId), perPage: 1 });
  // The content being edited outlives a switch of tabs (not a reload: the draft is not saved
  // anywhere), and belongs to its policy (the page stays mounted when another policy opens).
  const [draftOf, setDraftOf] = useState<{ policyId: string; text: string } | undefined>();
  const draft = draftOf?.policyId === policyId ? draftOf.text : undefined;
  const setDraft = (text: string | undefined) => setDraftOf(text === undefined ? undefined : { policyId, text });

  const p = policy.data?.item;
  if (!p) {
    if (policy.error instanceof ApiError && policy.error.statusCode === 404) {
      return (
        <EuiEmptyPrompt
          iconType="search"
          title={<h1>Agent policy not found</h1>}
          body={<PageError error={policy.error} title="No such policy" />}
          actions={<ConsoleLink to="/policies">Back to the agent policies</ConsoleLink>}
        />
      );
    }
    return (
      <>
        <EuiPageTemplate.Header pageTitle="Agent policy" />
        <EuiPageTemplate.Section>
          {policy.error !== undefined ? (
            <PageError error={policy.error} title="The agent policy could not be loaded" onRetry={policy.reload} />
          ) : (
            <EuiSkeletonText lines={6} isLoading contentAriaLabel="Loading the agent policy" />
          )}
        </EuiPageTemplate.Section>
      </>
    );
  }

  const fullText = full.data ? prettyJson(full.data.item) : undefined;
  const reload = () => {
    policy.reload();
    full.reload();
    agents.reload();
  };

  return (
    <>
      <EuiPageTemplate.Header
        pageTitle={p.name}
        breadcrumbs={[
          {
            text: 'Agent policies',
            href: '/app/fleet/policies',
            onClick: (e: React.MouseEvent) => {
              e.preventDefault();
              void navigate('/policies');
            },
          },
          { text: p.name },
        ]}
        rightSideItems={[
          <EuiButtonEmpty key="view" iconType="eye" onClick={() => url.set({ flyout: 'full' })} data-test-subj="viewFullPolicy">
            View policy
          </EuiButtonEmpty>,
          <EuiCopy key="copy" textToCopy={fullText ?? ''} afterMessage="Full policy copied">
            {(copy) => (
              <EuiButton iconType="copy" onClick={copy} isDisabled={fullText === undefined} data-test-subj="copyFullPolicy">
                Copy full policy
              </EuiButton>
            )}
          </EuiCopy>,
        ]}
        tabs={TABS.map((t) => ({
          label: t.name,
          isSelected: t.id === tab,
          'data-test-subj': `policyTab-${t.id}`,
          // Other tabs' state (revisions page, open revision) does not follow to the new tab.
          onClick: () => url.set({ tab: t.id === 'settings' ? undefined : t.id, revision: undefined, revisionsPage: undefined }),
        }))}
      >
        {p.description && (
          <EuiText size="s" color="subdued">
            <p>{p.description}</p>
          </EuiText>
        )}
        {policy.data?.warnings?.length ? (
          <>
            <EuiSpacer size="s" />
            <EuiCallOut
              title="Some outputs go out without API keys of their own"
              color="warning"
              iconType="warning"
              size="s"
              data-test-subj="outputCredentialWarnings"
            >
              <ul>
                {policy.data.warnings.map((w) => (
                  <li key={w.output}>{w.message}</li>
                ))}
              </ul>
            </EuiCallOut>
          </>
        ) : null}
        <EuiSpacer size="s" />
        <EuiFlexGroup gutterSize="xl" responsive={false} wrap>
          <EuiFlexItem grow={false}>
            <EuiDescriptionList compressed listItems={[{ title: 'Revision', description: <span data-test-subj="policyRevision">{p.revision}</span> }]} />
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <EuiDescriptionList
              compressed
              listItems={[
                {
                  title: 'Agents',
                  description: agents.data ? (
                    <ConsoleLink to={`/policies/${encodeURIComponent(p.id)}?tab=agents`} data-test-subj="policyAgentCount">
                      {agents.data.total}
                    </ConsoleLink>
                  ) : (
                    <EuiLoadingSpinner size="s" />
                  ),
                },
              ]}
            />
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <EuiDescriptionList compressed listItems={[{ title: 'Namespace', description: p.namespace }]} />
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <EuiDescriptionList compressed listItems={[{ title: 'Last updated on', description: `${formatTime(p.updated_at)} by ${p.updated_by}` }]} />
          </EuiFlexItem>
        </EuiFlexGroup>
      </EuiPageTemplate.Header>
      <EuiPageTemplate.Section>
        {policy.error !== undefined && (
          <>
            <PageError error={policy.error} title="The agent policy could not be reloaded" onRetry={policy.reload} />
            <EuiSpacer />
          </>
        )}
        {tab === 'settings' && <PolicySettingsTab policy={p} canEdit={admin} onSaved={reload} />}
        {tab === 'content' && (
          <Suspense fallback={<EuiSkeletonText lines={10} isLoading contentAriaLabel="Loading the editor" />}>
            <PolicyContentEditor policy={p} draft={draft} onDraftChange={setDraft} canEdit={admin} />
          </Suspense>
        )}
        {tab === 'revisions' && <PolicyRevisionsTab policy={p} />}
        {tab === 'agents' && <PolicyAgentsTab policy={p} />}
        <EuiSpacer />
        <ConsoleLink to={rolloutPathOfPolicy(p.id, p.revision)} data-test-subj="currentRolloutLink">
          Rollout of revision {p.revision}
        </ConsoleLink>
      </EuiPageTemplate.Section>
      {url.get('flyout') === 'full' && <FullPolicyFlyout policy={p} full={fullText} onClose={() => url.set({ flyout: undefined })} />}
      <GlobalToasts />
    </>
  );
}

import {
  EuiBadge,
  EuiBasicTable,
  EuiButtonEmpty,
  EuiFlyout,
  EuiFlyoutBody,
  EuiFlyoutHeader,
  EuiSkeletonText,
  EuiSpacer,
  EuiText,
  EuiTitle,
  useGeneratedHtmlId,
  type Criteria,
  type EuiBasicTableColumn,
} from '@elastic/eui';
import { rolloutPathOfPolicy, type AgentPolicy, type ListAnswer, type PolicyRevision, type PolicyRevisionSummary } from '../fleet-types';
import { formatTime, prettyJson } from '../format';
import { useApiQuery } from '../hooks/use-api-query';
import { useUrlState } from '../hooks/use-url-state';
import { ConsoleLink } from './console-link';
import { PageError } from './page-error';
import { CodeBlock } from './code-block';

const PAGE_SIZES = [10, 20, 50];

/** One revision's agent-facing document (what agents on it received), in a flyout. */
function RevisionFlyout({ policy, revision, onClose }: { policy: AgentPolicy; revision: number; onClose: () => void }) {
  const titleId = useGeneratedHtmlId({ prefix: 'revision' });
  const rev = useApiQuery<{ item: PolicyRevision }>(`/api/fleet/agent_policies/${encodeURIComponent(policy.id)}/revisions/${revision}`);
  return (
    <EuiFlyout onClose={onClose} size="m" aria-labelledby={titleId} data-test-subj="policyRevisionFlyout" ownFocus>
      <EuiFlyoutHeader hasBorder>
        <EuiTitle size="m">
          <h2 id={titleId}>
            {policy.name}: revision {revision}
          </h2>
        </EuiTitle>
        {rev.data && (
          <EuiText size="s" color="subdued">
            <p>Written {formatTime(rev.data.item.created_at)}</p>
          </EuiText>
        )}
      </EuiFlyoutHeader>
      <EuiFlyoutBody>
        {rev.error !== undefined ? (
          <PageError error={rev.error} title={`Revision ${revision} could not be loaded`} onRetry={rev.reload} />
        ) : rev.data ? (
          <CodeBlock language="json" isCopyable lineNumbers overflowHeight="calc(100vh - 200px)" data-test-subj="policyRevisionData">
            {prettyJson(rev.data.item.data)}
          </CodeBlock>
        ) : (
          <EuiSkeletonText lines={10} isLoading contentAriaLabel="Loading the revision" />
        )}
      </EuiFlyoutBody>
    </EuiFlyout>
  );
}

/** The revisions written for a policy (newest first), each viewable and with its rollout. */
export function PolicyRevisionsTab({ policy }: { policy: AgentPolicy }) {
  const url = useUrlState();
  const page = url.getInt('revisionsPage', 1);
  const perPage = url.getInt('revisionsPerPage', 10, 1, 100);
  const shown = url.get('revision');
  const list = useApiQuery<ListAnswer<PolicyRevisionSummary>>(`/api/fleet/agent_policies/${encodeURIComponent(policy.id)}/revisions`, {
    page,
    perPage,
  });

  const columns: EuiBasicTableColumn<PolicyRevisionSummary>[] = [
    {
      field: 'revision_idx',
      name: 'Revision',
      render: (r: number) => (
        <span>
          rev. {r}{' '}
          {r === policy.revision && (
            <EuiBadge color="primary" data-test-subj="currentRevisionBadge">
              current
            </EuiBadge>
          )}
        </span>
      ),
    },
    { field: 'created_at', name: 'Written', render: (t: string) => formatTime(t) },
    { field: 'coordinator_idx', name: 'Coordinator index', dataType: 'number' },
    {
      name: 'Actions',
      actions: [
        {
          render: (r: PolicyRevisionSummary) => (
            <EuiButtonEmpty size="xs" iconType="eye" onClick={() => url.set({ revision: r.revision_idx })} data-test-subj={`viewRevision-${r.revision_idx}`}>
              View
            </EuiButtonEmpty>
          ),
        },
        {
          render: (r: PolicyRevisionSummary) => (
            <ConsoleLink to={rolloutPathOfPolicy(policy.id, r.revision_idx)} data-test-subj={`revisionRollout-${r.revision_idx}`}>
              Rollout
            </ConsoleLink>
          ),
        },
      ],
    },
  ];

  return (
    <>
      {list.error !== undefined && (
        <>
          <PageError error={list.error} title="The revisions could not be loaded" onRetry={list.reload} />
          <EuiSpacer />
        </>
      )}
      <EuiBasicTable<PolicyRevisionSummary>
        tableCaption={`Revisions of ${policy.name}`}
        data-test-subj="policyRevisionsTable"
        items={list.data?.items ?? []}
        columns={columns}
        loading={list.loading}
        noItemsMessage={list.loading ? 'Loading revisions…' : 'No revisions'}
        rowProps={(r) => ({ 'data-test-subj': `policyRevisionRow-${r.revision_idx}` })}
        pagination={{ pageIndex: page - 1, pageSize: perPage, totalItemCount: list.data?.total ?? 0, pageSizeOptions: PAGE_SIZES }}
        onChange={({ page: p }: Criteria<PolicyRevisionSummary>) => {
          if (p) url.set({ revisionsPage: p.index === 0 ? undefined : p.index + 1, revisionsPerPage: p.size === 10 ? undefined : p.size });
        }}
      />
      {shown !== undefined && /^\d+$/.test(shown) && (
        <RevisionFlyout policy={policy} revision={Number(shown)} onClose={() => url.set({ revision: undefined })} />
      )}
    </>
  );
}

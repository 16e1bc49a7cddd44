import {
  EuiBadge,
  EuiBadgeGroup,
  EuiBasicTable,
  EuiButton,
  EuiButtonEmpty,
  EuiCallOut,
  EuiContextMenuItem,
  EuiContextMenuPanel,
  EuiEmptyPrompt,
  EuiFieldSearch,
  EuiFlexGroup,
  EuiFlexItem,
  EuiIconTip,
  EuiLink,
  EuiPageTemplate,
  EuiPopover,
  EuiSpacer,
  EuiSwitch,
  EuiText,
  type CriteriaWithPagination,
  type EuiBasicTableColumn,
} from '@elastic/eui';
import { useEffect, useMemo, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { ApiError, errorMessage } from '../api-client';
import type { ActionOutcome, AgentTarget } from '../agents/agent-actions';
import { AgentActionModal, type AgentActionKind, type AgentActionRequest } from '../agents/agent-action-modals';
import { AgentActionsMenu } from '../agents/agent-actions-menu';
import { StatusFilterGroup, TagsFilter } from '../agents/agent-filters';
import {
  agentListQuery,
  bulkKuery,
  combinedKuery,
  listStateParams,
  PAGE_SIZES,
  parseListState,
  SORT_FIELDS,
  type AgentListState,
  type SortField,
} from '../agents/agent-list-query';
import { agentHostname, agentVersion, type AgentList, type AgentStatusCounts, type AgentView } from '../agents/agent-types';
import { usePolicySummaries } from '../agents/use-policy-summaries';
import { AgentStatusBadge } from '../components/agent-status-badge';
import { OutcomeText } from '../agents/outcome-text';
import { RelativeTime } from '../components/relative-time';
import { useApiResource } from '../hooks/use-api-resource';
import { usePageToasts } from '../hooks/use-page-toasts';
import { canOperate, useSession } from '../session-context';

/** The list refreshes this often while the tab is visible (one page: cheap at any fleet size). */
const REFRESH_MS = 7_000;
const MAX_TAG_BADGES = 3;

/** Kibana Fleet's agents list: server-side filters, paging and sorting, all in the URL. */
export function AgentsPage() {
  const [params, setParams] = useSearchParams();
  const state = useMemo(() => parseListState(params), [params]);
  const navigate = useNavigate();
  const { session } = useSession();
  const operator = canOperate(session);
  const toasts = usePageToasts();

  const list = useApiResource<AgentList>('/api/fleet/agents', agentListQuery(state), { refreshMs: REFRESH_MS, keepPrevious: true });
  const counts = useApiResource<{ results: AgentStatusCounts }>('/api/fleet/agent_status', undefined, { refreshMs: REFRESH_MS * 2 });
  const items = useMemo(() => list.data?.items ?? [], [list.data]);
  const policies = usePolicySummaries(useMemo(() => items.map((a) => a.policy_id), [items]));

  // The selection survives refreshes (rows are matched by id) and is dropped when the view changes.
  const viewKey = combinedKuery(state) + `|${state.showInactive}|${state.page}|${state.perPage}|${state.sortField}|${state.sortOrder}`;
  const [selection, setSelection] = useState<{ viewKey: string; ids: string[]; everything: boolean }>({ viewKey, ids: [], everything: false });
  const selected = selection.viewKey === viewKey ? selection : { viewKey, ids: [], everything: false };
  const selectedItems = items.filter((a) => selected.ids.includes(a.id));

  const [request, setRequest] = useState<AgentActionRequest | undefined>();
  const [draft, setDraft] = useState(state.kuery);
  useEffect(() => setDraft(state.kuery), [state.kuery]);

  const update = (patch: Partial<AgentListState>) => {
    const next = { ...state, page: 1, ...patch };
    setParams(listStateParams(next));
  };

  const total = list.data?.total ?? 0;
  const bulkTarget = (): AgentTarget =>
    selected.everything ? { kind: 'bulk', agents: bulkKuery(state), count: total } : { kind: 'bulk', agents: selected.ids, count: selected.ids.length };
  const openAction = (kind: AgentActionKind, target: AgentTarget) => setRequest({ kind, target });
  const onDone = (outcome: ActionOutcome) => {
    setRequest(undefined);
    setSelection({ viewKey, ids: [], everything: false });
    toasts.add({
      title: outcome.message,
      color: outcome.skipped?.length ? 'warning' : 'success',
      text: <OutcomeText outcome={outcome} onOpen={(path) => void navigate(path)} />,
    });
    list.reload();
  };

  const badQuery = list.error instanceof ApiError && list.error.statusCode === 400;
  const filtered = !!combinedKuery(state) || state.showInactive;
  const noAgentsAtAll = !list.isLoading && !list.error && total === 0 && !filtered;

  const columns: EuiBasicTableColumn<AgentView>[] = [
    {
      field: 'local_metadata.host.hostname',
      name: 'Host',
      sortable: true,
      truncateText: true,
      render: (_v: unknown, agent: AgentView) => (
        <EuiLink
          href={`/app/fleet/agents/${encodeURIComponent(agent.id)}`}
          data-test-subj={`agentLink-${agent.id}`}
          onClick={(e: React.MouseEvent) => {
            e.preventDefault();
            void navigate(`/agents/${encodeURIComponent(agent.id)}`);
          }}
        >
          {agentHostname(agent)}
        </EuiLink>
      ),
    },
    {
      field: 'status',
      name: 'Status',
      render: (_v: unknown, agent: AgentView) => <AgentStatusBadge status={agent.status} testSubj={`agentStatus-${agent.id}`} />,
    },
    {
      field: 'tags',
      name: 'Tags',
      render: (_v: unknown, agent: AgentView) => <TagBadges tags={agent.tags ?? []} />,
    },
    {
      field: 'policy_id',
      name: 'Agent policy',
      sortable: true,
      truncateText: true,
      render: (_v: unknown, agent: AgentView) => {
        const policy = policies.get(agent.policy_id);
        const outdated = policy && agent.policy_revision !== null && agent.policy_revision < policy.revision;
        return (
          <EuiFlexGroup gutterSize="xs" alignItems="center" responsive={false} wrap>
            <EuiFlexItem grow={false}>
              <EuiLink
                href={`/app/fleet/policies/${encodeURIComponent(agent.policy_id)}`}
                onClick={(e: React.MouseEvent) => {
                  e.preventDefault();
                  void navigate(`/policies/${encodeURIComponent(agent.policy_id)}`);
                }}
              >
                {policy?.name ?? agent.policy_id}
              </EuiLink>
            </EuiFlexItem>
            {agent.policy_revision !== null && (
              <EuiFlexItem grow={false}>
                <EuiText size="xs" color="subdued" data-test-subj={`agentRevision-${agent.id}`}>
                  rev. {agent.policy_revision}
                </EuiText>
              </EuiFlexItem>
            )}
            {outdated && (
              <EuiFlexItem grow={false}>
                <EuiIconTip type="warning" color="warning" content={`The latest revision is ${policy.revision}; the agent has not acknowledged it yet`} />
              </EuiFlexItem>
            )}
          </EuiFlexGroup>
        );
      },
    },
    {
      field: 'local_metadata.elastic.agent.version',
      name: 'Version',
      sortable: true,
      render: (_v: unknown, agent: AgentView) => agentVersion(agent) ?? '-',
    },
    {
      field: 'last_checkin',
      name: 'Last activity',
      sortable: true,
      render: (_v: unknown, agent: AgentView) => <RelativeTime iso={agent.last_checkin} />,
    },
    {
      name: 'Actions',
      width: '70px',
      align: 'right',
      render: (agent: AgentView) => <AgentActionsMenu agent={agent} variant="row" onAction={(kind) => openAction(kind, { kind: 'agent', agent })} />,
    },
  ];

  const onTableChange = ({ page, sort }: CriteriaWithPagination<AgentView>) => {
    const sortField = (SORT_FIELDS as readonly string[]).includes(String(sort?.field)) ? (sort?.field as SortField) : state.sortField;
    const sortChanged = sortField !== state.sortField || (sort?.direction ?? state.sortOrder) !== state.sortOrder;
    const perPageChanged = page.size !== state.perPage;
    update({
      sortField,
      sortOrder: sort?.direction ?? state.sortOrder,
      perPage: page.size,
      page: sortChanged || perPageChanged ? 1 : page.index + 1,
    });
  };

  return (
    <>
      <EuiPageTemplate.Header pageTitle="Agents" description="Elastic Agents enrolled in this Fleet Server" />
      <EuiPageTemplate.Section>
        <EuiFlexGroup gutterSize="s" alignItems="center" wrap>
          <EuiFlexItem grow={3} style={{ minWidth: 280 }}>
            <EuiFieldSearch
              fullWidth
              placeholder='Search: policy_id:p1 and status:(online or error) and tags:"prod"'
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              onSearch={(value) => update({ kuery: value.trim() })}
              isInvalid={badQuery}
              isClearable
              aria-label="Search agents (KQL subset: policy_id, status, tags)"
              data-test-subj="agentsKueryInput"
            />
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <StatusFilterGroup selected={state.statuses} counts={counts.data?.results} onChange={(statuses) => update({ statuses })} />
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <TagsFilter selected={state.tags} onChange={(tags) => update({ tags })} />
          </EuiFlexItem>
          <EuiFlexItem grow={false}>
            <EuiSwitch
              label="Show inactive"
              checked={state.showInactive}
              onChange={(e) => update({ showInactive: e.target.checked })}
              data-test-subj="showInactiveSwitch"
            />
          </EuiFlexItem>
        </EuiFlexGroup>
        <EuiSpacer size="m" />
        {list.error !== undefined && (
          <>
            <EuiCallOut
              color="danger"
              iconType="error"
              title={badQuery ? 'The search is not valid' : 'Could not load agents'}
              data-test-subj="pageError"
              role="alert"
            >
              {errorMessage(list.error)}
            </EuiCallOut>
            <EuiSpacer size="m" />
          </>
        )}
        {noAgentsAtAll ? (
          <EuiEmptyPrompt
            iconType="fleetApp"
            title={<h2>No agents enrolled yet</h2>}
            body={<p>Create an enrollment token and run the enroll command on a host to add its Elastic Agent.</p>}
            actions={
              <EuiButton fill onClick={() => void navigate('/enrollment-tokens')}>
                Enrollment tokens
              </EuiButton>
            }
            data-test-subj="agentsEmpty"
          />
        ) : (
          <>
            <EuiFlexGroup gutterSize="s" alignItems="center" responsive={false}>
              <EuiFlexItem grow={false}>
                <EuiText size="s" data-test-subj="agentsTotal">
                  {list.data ? `${total} agent${total === 1 ? '' : 's'}` : '\u00a0'}
                </EuiText>
              </EuiFlexItem>
              {operator && (selected.ids.length > 0 || selected.everything) && (
                <>
                  <EuiFlexItem grow={false}>
                    <SelectionSummary
                      selectedOnPage={selected.ids.length}
                      pageSize={items.length}
                      total={total}
                      everything={selected.everything}
                      onEverything={(everything) => setSelection({ ...selected, everything })}
                    />
                  </EuiFlexItem>
                  <EuiFlexItem grow={false}>
                    <BulkActionsButton count={selected.everything ? total : selected.ids.length} onAction={(kind) => openAction(kind, bulkTarget())} />
                  </EuiFlexItem>
                </>
              )}
            </EuiFlexGroup>
            <EuiSpacer size="s" />
            <EuiBasicTable<AgentView>
              tableCaption="Agents"
              tableLayout="auto"
              data-test-subj="agentsTable"
              items={items}
              itemId="id"
              columns={columns}
              loading={list.isLoading}
              noItemsMessage={list.isLoading ? 'Loading agents…' : 'No agents match the search and filters'}
              rowProps={(agent: AgentView) => ({ 'data-test-subj': `agentRow-${agent.id}` })}
              selection={
                operator
                  ? {
                      selected: selectedItems,
                      onSelectionChange: (rows: AgentView[]) => setSelection({ viewKey, ids: rows.map((a) => a.id), everything: false }),
                    }
                  : undefined
              }
              pagination={{
                pageIndex: state.page - 1,
                pageSize: state.perPage,
                totalItemCount: Math.min(total, 10_000),
                pageSizeOptions: [...PAGE_SIZES],
              }}
              sorting={{ sort: { field: state.sortField as keyof AgentView, direction: state.sortOrder } }}
              onChange={onTableChange}
            />
          </>
        )}
      </EuiPageTemplate.Section>
      {request && <AgentActionModal request={request} onClose={() => setRequest(undefined)} onDone={onDone} />}
      {toasts.list}
    </>
  );
}

function TagBadges({ tags }: { tags: string[] }) {
  if (!tags.length) return <EuiText size="xs" color="subdued">-</EuiText>;
  const shown = tags.slice(0, MAX_TAG_BADGES);
  return (
    <EuiBadgeGroup gutterSize="xs">
      {shown.map((t) => (
        <EuiBadge key={t} color="hollow">
          {t}
        </EuiBadge>
      ))}
      {tags.length > shown.length && <EuiBadge color="default" title={tags.slice(MAX_TAG_BADGES).join(', ')}>{`+${tags.length - shown.length}`}</EuiBadge>}
    </EuiBadgeGroup>
  );
}

/** "5 selected" and, when the whole page is, Kibana's "Select everything on all pages". */
function SelectionSummary(props: {
  selectedOnPage: number;
  pageSize: number;
  total: number;
  everything: boolean;
  onEverything: (everything: boolean) => void;
}) {
  if (props.everything) {
    return (
      <EuiFlexGroup gutterSize="xs" alignItems="center" responsive={false}>
        <EuiText size="s" data-test-subj="selectedCount">
          All {props.total} agents selected
        </EuiText>
        <EuiButtonEmpty size="xs" onClick={() => props.onEverything(false)} data-test-subj="clearSelectEverything">
          Clear selection
        </EuiButtonEmpty>
      </EuiFlexGroup>
    );
  }
  return (
    <EuiFlexGroup gutterSize="xs" alignItems="center" responsive={false}>
      <EuiText size="s" data-test-subj="selectedCount">
        {props.selectedOnPage} selected
      </EuiText>
      {props.selectedOnPage === props.pageSize && props.total > props.pageSize && (
        <EuiButtonEmpty size="xs" onClick={() => props.onEverything(true)} data-test-subj="selectEverything">
          Select everything on all pages ({props.total})
        </EuiButtonEmpty>
      )}
    </EuiFlexGroup>
  );
}

function BulkActionsButton({ count, onAction }: { count: number; onAction: (kind: AgentActionKind) => void }) {
  const [open, setOpen] = useState(false);
  const item = (kind: AgentActionKind, testSubj: string, icon: string, text: string) => (
    <EuiContextMenuItem
      key={kind}
      icon={icon}
      data-test-subj={testSubj}
      onClick={() => {
        setOpen(false);
        onAction(kind);
      }}
    >
      {text}
    </EuiContextMenuItem>
  );
  return (
    <EuiPopover
      isOpen={open}
      closePopover={() => setOpen(false)}
      panelPaddingSize="none"
      anchorPosition="downLeft"
      button={
        <EuiButton size="s" iconType="chevronSingleDown" iconSide="right" onClick={() => setOpen((o) => !o)} data-test-subj="bulkActionsButton">
          Actions on {count} agent{count === 1 ? '' : 's'}
        </EuiButton>
      }
    >
      <EuiContextMenuPanel
        items={[
          item('addTags', 'bulkAddTags', 'tag', 'Add tags'),
          item('removeTags', 'bulkRemoveTags', 'tag', 'Remove tags'),
          item('reassign', 'bulkReassign', 'pencil', 'Assign to new policy'),
          item('upgrade', 'bulkUpgrade', 'refresh', 'Upgrade agents'),
          item('diagnostics', 'bulkRequestDiagnostics', 'download', 'Request diagnostics .zip'),
          item('unenroll', 'bulkUnenroll', 'trash', 'Unenroll agents'),
        ]}
      />
    </EuiPopover>
  );
}

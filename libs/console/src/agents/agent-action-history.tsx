import { EuiBadge, EuiBasicTable, EuiCallOut, EuiCode, EuiLink, EuiSpacer, EuiText, EuiToolTip } from '@elastic/eui';
import { useNavigate } from 'react-router-dom';
import { errorMessage } from '../api-client';
import { RelativeTime } from '../components/relative-time';
import { useApiResource } from '../hooks/use-api-resource';
import type { ActionHistoryItem } from './agent-types';

const STATUS_COLOR: Record<ActionHistoryItem['status'], string> = {
  pending: 'primary',
  acknowledged: 'success',
  failed: 'danger',
  expired: 'default',
};
const PER_PAGE = 50;
const MAX_DATA_CHARS = 160;

/** The actions sent to the agent, newest first, with what became of each (`GET /agents/:id/action_history`). */
export function AgentActionHistory({ agentId }: { agentId: string }) {
  const navigate = useNavigate();
  const history = useApiResource<{ items: ActionHistoryItem[]; total: number }>(
    `/api/fleet/agents/${encodeURIComponent(agentId)}/action_history`,
    { perPage: PER_PAGE },
    { refreshMs: 10_000 },
  );
  const items = history.data?.items ?? [];
  return (
    <div data-test-subj="agentActionHistory">
      {history.error !== undefined && (
        <>
          <EuiCallOut color="danger" iconType="error" title="Could not load the action history" data-test-subj="pageError" role="alert">
            {errorMessage(history.error)}
          </EuiCallOut>
          <EuiSpacer size="m" />
        </>
      )}
      {history.data && history.data.total > items.length && (
        <EuiText size="xs" color="subdued">
          <p>
            The newest {items.length} of {history.data.total} actions.
          </p>
        </EuiText>
      )}
      <EuiBasicTable<ActionHistoryItem>
        tableCaption="Action history"
        items={items}
        itemId="action_id"
        loading={history.isLoading}
        noItemsMessage={history.isLoading ? 'Loading…' : 'No actions were sent to this agent'}
        rowProps={(a: ActionHistoryItem) => ({ 'data-test-subj': `actionHistoryRow-${a.action_id}` })}
        columns={[
          {
            field: 'type',
            name: 'Action',
            render: (type: string, a: ActionHistoryItem) => (
              <EuiLink
                href={`/app/fleet/rollouts/actions/${encodeURIComponent(a.action_id)}`}
                onClick={(e: React.MouseEvent) => {
                  e.preventDefault();
                  void navigate(`/rollouts/actions/${encodeURIComponent(a.action_id)}`);
                }}
              >
                {type}
              </EuiLink>
            ),
          },
          {
            field: 'status',
            name: 'Result',
            width: '130px',
            render: (status: ActionHistoryItem['status'], a: ActionHistoryItem) => (
              <EuiBadge color={STATUS_COLOR[status] ?? 'default'} data-test-subj={`actionStatus-${a.action_id}`}>
                {status}
              </EuiBadge>
            ),
          },
          { field: 'created_at', name: 'Sent', width: '140px', render: (iso: string) => <RelativeTime iso={iso} /> },
          { field: 'acknowledged_at', name: 'Acknowledged', width: '140px', render: (iso?: string) => <RelativeTime iso={iso} /> },
          { field: 'user_id', name: 'By', width: '120px', truncateText: true, render: (u?: string) => u ?? '-' },
          {
            field: 'error',
            name: 'Details',
            render: (error: string | undefined, a: ActionHistoryItem) => {
              if (error) {
                return (
                  <EuiText size="xs" color="danger" data-test-subj={`actionError-${a.action_id}`}>
                    {error}
                  </EuiText>
                );
              }
              if (a.data === undefined || a.data === null) return '-';
              const json = JSON.stringify(a.data);
              return json.length > MAX_DATA_CHARS ? (
                <EuiToolTip content={json.slice(0, 2000)}>
                  <EuiCode tabIndex={0}>{`${json.slice(0, MAX_DATA_CHARS)}…`}</EuiCode>
                </EuiToolTip>
              ) : (
                <EuiCode>{json}</EuiCode>
              );
            },
          },
        ]}
      />
    </div>
  );
}

import { EuiBadge, EuiBasicTable, EuiButton, EuiCallOut, EuiLink, EuiSpacer, EuiText } from '@elastic/eui';
import { useState } from 'react';
import { errorMessage } from '../api-client';
import { RelativeTime } from '../components/relative-time';
import { useApiResource } from '../hooks/use-api-resource';
import { canOperate, useSession } from '../session-context';
import { requestDiagnostics, type ActionOutcome } from './agent-actions';
import type { AgentView, DiagnosticsUpload } from './agent-types';

const STATUS_COLOR: Record<DiagnosticsUpload['status'], string> = {
  READY: 'success',
  AWAITING_UPLOAD: 'primary',
  IN_PROGRESS: 'primary',
  FAILED: 'danger',
  EXPIRED: 'default',
  DELETED: 'default',
};

/**
 * Kibana's Diagnostics tab: request a diagnostics archive, and the agent's uploads with their
 * state; a READY one downloads from the management API (the session cookie authenticates it).
 */
export function AgentDiagnosticsPanel({ agent, onRequested }: { agent: AgentView; onRequested: (outcome: ActionOutcome) => void }) {
  const { session } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const uploads = useApiResource<{ items: DiagnosticsUpload[] }>(`/api/fleet/agents/${encodeURIComponent(agent.id)}/uploads`, undefined, {
    refreshMs: 5_000,
  });

  const request = () => {
    setBusy(true);
    setError(undefined);
    requestDiagnostics({ kind: 'agent', agent })
      .then((outcome) => {
        onRequested(outcome);
        uploads.reload();
      })
      .catch((err: unknown) => setError(errorMessage(err)))
      .finally(() => setBusy(false));
  };

  return (
    <div data-test-subj="agentDiagnostics">
      <EuiText size="s">
        <p>
          A diagnostics archive holds the agent's logs, configuration and state. The agent uploads it to Fleet Server; it can be downloaded here
          until it expires.
        </p>
      </EuiText>
      <EuiSpacer size="m" />
      <EuiButton
        iconType="download"
        onClick={request}
        isLoading={busy}
        isDisabled={!canOperate(session) || !agent.active}
        data-test-subj="requestDiagnosticsButton"
      >
        Request diagnostics .zip
      </EuiButton>
      <EuiSpacer size="m" />
      {(error || uploads.error !== undefined) && (
        <>
          <EuiCallOut color="danger" iconType="error" title="Diagnostics" data-test-subj="pageError" role="alert">
            {error ?? errorMessage(uploads.error)}
          </EuiCallOut>
          <EuiSpacer size="m" />
        </>
      )}
      <EuiBasicTable<DiagnosticsUpload>
        tableCaption="Diagnostics uploads"
        data-test-subj="agentDiagnosticsTable"
        items={uploads.data?.items ?? []}
        itemId="id"
        loading={uploads.isLoading}
        noItemsMessage={uploads.isLoading ? 'Loading…' : 'No diagnostics requested yet'}
        columns={[
          {
            field: 'name',
            name: 'File',
            render: (name: string, u: DiagnosticsUpload) =>
              u.status === 'READY' && u.filePath ? (
                <EuiLink href={u.filePath} download={name} data-test-subj={`diagnosticsDownload-${u.id}`}>
                  {name}
                </EuiLink>
              ) : (
                <EuiText size="s" color="subdued">
                  {name}
                </EuiText>
              ),
          },
          {
            field: 'status',
            name: 'Status',
            width: '150px',
            render: (status: DiagnosticsUpload['status'], u: DiagnosticsUpload) => (
              <EuiBadge color={STATUS_COLOR[status] ?? 'default'} data-test-subj={`diagnosticsStatus-${u.actionId}`}>
                {status}
              </EuiBadge>
            ),
          },
          { field: 'createTime', name: 'Requested', width: '150px', render: (iso: string) => <RelativeTime iso={iso} /> },
          { field: 'error', name: 'Error', render: (e?: string) => (e ? <EuiText size="xs" color="danger">{e}</EuiText> : '-') },
        ]}
      />
    </div>
  );
}

import {
  EuiBadge,
  EuiButtonEmpty,
  EuiCallOut,
  EuiCodeBlock,
  EuiDescriptionList,
  EuiEmptyPrompt,
  EuiFlexGrid,
  EuiFlexGroup,
  EuiFlexItem,
  EuiIconTip,
  EuiLink,
  EuiLoadingSpinner,
  EuiPageTemplate,
  EuiPanel,
  EuiSpacer,
  EuiText,
  EuiTitle,
} from '@elastic/eui';
import { useState, type ReactNode } from 'react';
import { useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { ApiError, errorMessage } from '../api-client';
import type { ActionOutcome } from '../agents/agent-actions';
import { AgentActionHistory } from '../agents/agent-action-history';
import { AgentActionModal, type AgentActionRequest } from '../agents/agent-action-modals';
import { AgentActionsMenu } from '../agents/agent-actions-menu';
import { AgentComponentsPanel } from '../agents/agent-components-panel';
import { AgentDiagnosticsPanel } from '../agents/agent-diagnostics-panel';
import { agentHostname, agentVersion, metadataText, type AgentPolicySummary, type AgentView } from '../agents/agent-types';
import { OutcomeText } from '../agents/outcome-text';
import { AgentStatusBadge } from '../components/agent-status-badge';
import { RelativeTime } from '../components/relative-time';
import { useApiResource } from '../hooks/use-api-resource';
import { usePageToasts } from '../hooks/use-page-toasts';

const TABS = [
  { id: 'details', name: 'Agent details' },
  { id: 'actions', name: 'Action history' },
  { id: 'diagnostics', name: 'Diagnostics' },
] as const;
type TabId = (typeof TABS)[number]['id'];
const REFRESH_MS = 10_000;

/** One agent: its metadata and health, its components, upgrade, actions and diagnostics (tab in the URL). */
export function AgentDetailsPage() {
  const { agentId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const tab: TabId = TABS.find((t) => t.id === params.get('tab'))?.id ?? 'details';
  const navigate = useNavigate();
  const toasts = usePageToasts();
  const [request, setRequest] = useState<AgentActionRequest | undefined>();

  const agentRes = useApiResource<{ item: AgentView }>(`/api/fleet/agents/${encodeURIComponent(agentId)}`, undefined, { refreshMs: REFRESH_MS });
  const agent = agentRes.data?.item;
  const policyRes = useApiResource<{ item: AgentPolicySummary }>(
    agent ? `/api/fleet/agent_policies/${encodeURIComponent(agent.policy_id)}` : null,
    undefined,
    { refreshMs: REFRESH_MS },
  );

  const onDone = (outcome: ActionOutcome) => {
    setRequest(undefined);
    toasts.add({ title: outcome.message, text: <OutcomeText outcome={outcome} onOpen={(path) => void navigate(path)} /> });
    agentRes.reload();
  };

  const back = (
    <EuiButtonEmpty iconType="chevronSingleLeft" size="s" flush="left" onClick={() => void navigate('/agents')} data-test-subj="backToAgents">
      All agents
    </EuiButtonEmpty>
  );

  if (!agent) {
    const notFound = agentRes.error instanceof ApiError && agentRes.error.statusCode === 404;
    return (
      <>
        <EuiPageTemplate.Header pageTitle="Agent details" breadcrumbs={[]} />
        <EuiPageTemplate.Section>
          {back}
          <EuiSpacer size="m" />
          {agentRes.error !== undefined ? (
            notFound ? (
              <EuiEmptyPrompt
                iconType="search"
                color="subdued"
                title={<h2>Agent not found</h2>}
                body={
                  <EuiCallOut color="danger" iconType="error" data-test-subj="pageError" title="Not found">
                    {errorMessage(agentRes.error)}
                  </EuiCallOut>
                }
              />
            ) : (
              <EuiCallOut color="danger" iconType="error" title="Could not load the agent" data-test-subj="pageError" role="alert">
                {errorMessage(agentRes.error)}
              </EuiCallOut>
            )
          ) : (
            <EuiLoadingSpinner size="xl" />
          )}
        </EuiPageTemplate.Section>
      </>
    );
  }

  return (
    <>
      <EuiPageTemplate.Header
        pageTitle={
          <EuiFlexGroup gutterSize="m" alignItems="center" responsive={false}>
            <EuiFlexItem grow={false}>{agentHostname(agent)}</EuiFlexItem>
            <EuiFlexItem grow={false}>
              <AgentStatusBadge status={agent.status} testSubj="agentDetailsStatus" />
            </EuiFlexItem>
          </EuiFlexGroup>
        }
        rightSideItems={[<AgentActionsMenu key="actions" agent={agent} variant="header" onAction={(kind) => setRequest({ kind, target: { kind: 'agent', agent } })} />]}
        tabs={TABS.map((t) => ({
          label: t.name,
          isSelected: t.id === tab,
          'data-test-subj': `agentTab-${t.id}`,
          onClick: () => setParams(t.id === 'details' ? {} : { tab: t.id }),
        }))}
      />
      <EuiPageTemplate.Section>
        {back}
        <EuiSpacer size="s" />
        {agentRes.error !== undefined && (
          <>
            <EuiCallOut color="warning" iconType="warning" title="Showing the last known state" data-test-subj="pageError" size="s">
              {errorMessage(agentRes.error)}
            </EuiCallOut>
            <EuiSpacer size="m" />
          </>
        )}
        {tab === 'details' && <DetailsTab agent={agent} policy={policyRes.data?.item} policyError={policyRes.error} />}
        {tab === 'actions' && <AgentActionHistory agentId={agent.id} />}
        {tab === 'diagnostics' && <AgentDiagnosticsPanel agent={agent} onRequested={onDone} />}
      </EuiPageTemplate.Section>
      {request && <AgentActionModal request={request} onClose={() => setRequest(undefined)} onDone={onDone} />}
      {toasts.list}
    </>
  );
}

function DetailsTab({ agent, policy, policyError }: { agent: AgentView; policy: AgentPolicySummary | undefined; policyError: unknown }) {
  const navigate = useNavigate();
  const os = [metadataText(agent, 'os.name') ?? metadataText(agent, 'os.family'), metadataText(agent, 'os.version')].filter(Boolean).join(' ');
  const platform = metadataText(agent, 'os.platform') ?? metadataText(agent, 'host.architecture');
  const latest = policy?.revision;
  const acked = agent.policy_revision;
  const behind = latest !== undefined && (acked === null || acked < latest);

  const rows: { title: string; description: NonNullable<ReactNode> }[] = [
    { title: 'Agent ID', description: <code>{agent.id}</code> },
    { title: 'Status', description: <AgentStatusBadge status={agent.status} /> },
    { title: 'Host name', description: metadataText(agent, 'host.hostname') ?? '-' },
    { title: 'Operating system', description: [os, platform].filter(Boolean).join(' · ') || '-' },
    { title: 'Agent version', description: agentVersion(agent) ?? '-' },
    {
      title: 'Agent policy',
      description: (
        <EuiLink
          href={`/app/fleet/policies/${encodeURIComponent(agent.policy_id)}`}
          onClick={(e: React.MouseEvent) => {
            e.preventDefault();
            void navigate(`/policies/${encodeURIComponent(agent.policy_id)}`);
          }}
        >
          {policy?.name ?? agent.policy_id}
        </EuiLink>
      ),
    },
    {
      title: 'Policy revision',
      description: (
        <span data-test-subj="agentPolicyRevision">
          {`revision acked ${acked ?? 'none'} of latest ${latest ?? (policyError ? 'unknown' : '…')}`}{' '}
          {behind && <EuiIconTip type="warning" color="warning" content="The agent has not acknowledged the latest revision yet" />}
        </span>
      ),
    },
    { title: 'Enrolled', description: <RelativeTime iso={agent.enrolled_at} /> },
    { title: 'Last check-in', description: <RelativeTime iso={agent.last_checkin} testSubj="agentLastCheckin" /> },
    { title: 'Last check-in status', description: agent.last_checkin_status ?? '-' },
    {
      title: 'Tags',
      description: agent.tags?.length ? (
        <span>
          {agent.tags.map((t) => (
            <EuiBadge key={t} color="hollow">
              {t}
            </EuiBadge>
          ))}
        </span>
      ) : (
        '-'
      ),
    },
  ];
  if (agent.last_checkin_message) rows.push({ title: 'Message', description: agent.last_checkin_message });
  if (agent.unhealthy_reason?.length) rows.push({ title: 'Unhealthy reason', description: agent.unhealthy_reason.join(', ') });
  if (!agent.active) {
    rows.push({ title: 'Unenrolled', description: <RelativeTime iso={agent.unenrolled_at} /> });
    if (agent.unenrolled_reason) rows.push({ title: 'Unenroll reason', description: agent.unenrolled_reason });
  }

  return (
    <EuiFlexGrid columns={2} gutterSize="l">
      <EuiFlexItem>
        <EuiPanel hasBorder data-test-subj="agentDetails">
          <EuiTitle size="xs">
            <h2>Overview</h2>
          </EuiTitle>
          <EuiSpacer size="s" />
          <EuiDescriptionList type="column" compressed listItems={rows} columnWidths={[1, 2]} />
        </EuiPanel>
      </EuiFlexItem>
      <EuiFlexItem>
        <UpgradePanel agent={agent} />
        <EuiSpacer size="l" />
        <AgentComponentsPanel agent={agent} />
      </EuiFlexItem>
    </EuiFlexGrid>
  );
}

/** The agent's upgrade as it reports it (`upgrade_details`: target, state, download progress, failure). */
function UpgradePanel({ agent }: { agent: AgentView }) {
  const details = agent.upgrade_details;
  const metadata = details?.metadata ?? {};
  const failed = details?.state === 'UPG_FAILED';
  return (
    <EuiPanel hasBorder data-test-subj="agentUpgradeDetails">
      <EuiTitle size="xs">
        <h2>Upgrade</h2>
      </EuiTitle>
      <EuiSpacer size="s" />
      {details ? (
        <>
          <EuiDescriptionList
            type="column"
            compressed
            columnWidths={[1, 2]}
            listItems={[
              { title: 'Target version', description: details.target_version },
              {
                title: 'State',
                description: (
                  <EuiBadge color={failed ? 'danger' : details.state === 'UPG_WATCHING' ? 'success' : 'primary'} data-test-subj="agentUpgradeState">
                    {details.state}
                  </EuiBadge>
                ),
              },
              { title: 'Action', description: <code>{details.action_id}</code> },
              ...(typeof metadata.download_percent === 'number'
                ? [{ title: 'Downloaded', description: `${Math.round(metadata.download_percent)}%` }]
                : []),
              ...(typeof metadata.scheduled_at === 'string' ? [{ title: 'Scheduled at', description: <RelativeTime iso={metadata.scheduled_at} /> }] : []),
            ]}
          />
          {typeof metadata.error_msg === 'string' && (
            <>
              <EuiSpacer size="s" />
              <EuiCallOut color="danger" iconType="error" size="s" title="The upgrade failed">
                {metadata.error_msg}
              </EuiCallOut>
            </>
          )}
          {Object.keys(metadata).length > 0 && (
            <>
              <EuiSpacer size="s" />
              <EuiCodeBlock language="json" fontSize="s" paddingSize="s" overflowHeight={160}>
                {JSON.stringify(metadata, null, 2)}
              </EuiCodeBlock>
            </>
          )}
        </>
      ) : (
        <EuiText size="s" color="subdued">
          <p>
            {agent.upgrade_started_at && !agent.upgraded_at
              ? 'An upgrade was requested; the agent has not reported its progress yet.'
              : agent.upgraded_at
                ? `Last upgraded ${new Date(agent.upgraded_at).toLocaleString()}.`
                : 'No upgrade in progress.'}
          </p>
        </EuiText>
      )}
    </EuiPanel>
  );
}

import {
  EuiBasicTable,
  EuiButton,
  EuiButtonIcon,
  EuiCallOut,
  EuiConfirmModal,
  EuiEmptyPrompt,
  EuiPageTemplate,
  EuiSpacer,
  EuiText,
  EuiToolTip,
  type Criteria,
  type EuiBasicTableColumn,
} from '@elastic/eui';
import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { apiFetch, errorMessage } from '../api-client';
import { ConsoleLink } from '../components/console-link';
import { CreatePolicyFlyout } from '../components/create-policy-flyout';
import { PageError } from '../components/page-error';
import { GlobalToasts, toastSuccess } from '../components/toasts';
import { formatTime } from '../format';
import { agentsOfPolicyPath, type AgentPolicy, type ListAnswer } from '../fleet-types';
import { useApiQuery } from '../hooks/use-api-query';
import { useUrlState } from '../hooks/use-url-state';
import { canAdminister, useSession } from '../session-context';

const PAGE_SIZES = [10, 20, 50, 100];

/**
 * Agent policies (Kibana's Fleet "Agent policies" tab): paged on the server, agent counts from the
 * list call, a create flyout and deletion behind a confirmation. Page and size are in the URL.
 */
export function PoliciesPage() {
  const { session } = useSession();
  const admin = canAdminister(session);
  const navigate = useNavigate();
  const url = useUrlState();
  const page = url.getInt('page', 1);
  const perPage = url.getInt('perPage', 20, 1, 100);
  const creating = url.get('flyout') === 'create';
  const list = useApiQuery<ListAnswer<AgentPolicy>>('/api/fleet/agent_policies', { page, perPage, withAgentCount: true });
  const [deleting, setDeleting] = useState<AgentPolicy | undefined>();
  const [deleteError, setDeleteError] = useState<string | undefined>();
  const [deleteBusy, setDeleteBusy] = useState(false);

  const confirmDelete = () => {
    if (!deleting) return;
    setDeleteBusy(true);
    setDeleteError(undefined);
    apiFetch('/api/fleet/agent_policies/delete', { method: 'POST', body: { agentPolicyId: deleting.id } })
      .then(() => {
        toastSuccess(`Deleted agent policy '${deleting.name}'`);
        setDeleting(undefined);
        list.reload();
      })
      .catch((err: unknown) => setDeleteError(errorMessage(err)))
      .finally(() => setDeleteBusy(false));
  };

  const columns: EuiBasicTableColumn<AgentPolicy>[] = [
    {
      field: 'name',
      name: 'Name',
      render: (_name: string, p: AgentPolicy) => (
        <span>
          <ConsoleLink to={`/policies/${encodeURIComponent(p.id)}`} data-test-subj={`policyLink-${p.id}`}>
            {p.name}
          </ConsoleLink>
          {p.description && (
            <EuiText size="xs" color="subdued">
              {p.description}
            </EuiText>
          )}
        </span>
      ),
    },
    { field: 'namespace', name: 'Namespace', width: '140px' },
    { field: 'revision', name: 'Revision', width: '90px', dataType: 'number', render: (r: number) => `rev. ${r}` },
    {
      field: 'agents',
      name: 'Agents',
      width: '90px',
      dataType: 'number',
      render: (n: number | undefined, p: AgentPolicy) => <ConsoleLink to={agentsOfPolicyPath(p.id)}>{n ?? 0}</ConsoleLink>,
    },
    { field: 'updated_at', name: 'Last updated on', width: '200px', render: (t: string) => formatTime(t) },
    {
      name: 'Actions',
      width: '80px',
      actions: [
        {
          render: (p: AgentPolicy) => (
            <EuiToolTip content={admin ? 'Delete policy' : 'Only admins can delete policies'}>
              <EuiButtonIcon
                iconType="trash"
                color="danger"
                aria-label={`Delete policy ${p.name}`}
                isDisabled={!admin}
                data-test-subj={`deletePolicy-${p.id}`}
                onClick={() => {
                  setDeleteError(undefined);
                  setDeleting(p);
                }}
              />
            </EuiToolTip>
          ),
        },
      ],
    },
  ];

  const answer = list.data;
  const empty = answer && answer.total === 0;

  return (
    <>
      <EuiPageTemplate.Header
        pageTitle="Agent policies"
        description="An agent policy is what the enrolled agents run: its outputs, inputs and agent settings."
        rightSideItems={[
          <EuiButton
            key="create"
            fill
            iconType="plusCircle"
            isDisabled={!admin}
            onClick={() => url.set({ flyout: 'create' })}
            data-test-subj="createPolicyButton"
          >
            Create agent policy
          </EuiButton>,
        ]}
      />
      <EuiPageTemplate.Section>
        {list.error !== undefined && (
          <>
            <PageError error={list.error} title="The agent policies could not be loaded" onRetry={list.reload} />
            <EuiSpacer />
          </>
        )}
        {empty ? (
          <EuiEmptyPrompt
            iconType="indexSettings"
            title={<h2>No agent policies</h2>}
            body={<p>Create an agent policy, then enroll agents with one of its enrollment tokens.</p>}
            actions={
              admin ? (
                <EuiButton fill onClick={() => url.set({ flyout: 'create' })}>
                  Create agent policy
                </EuiButton>
              ) : undefined
            }
          />
        ) : (
          <EuiBasicTable<AgentPolicy>
            tableCaption="Agent policies"
            data-test-subj="policiesTable"
            items={answer?.items ?? []}
            columns={columns}
            loading={list.loading}
            noItemsMessage={list.loading ? 'Loading agent policies…' : 'No agent policies on this page'}
            rowProps={(p) => ({ 'data-test-subj': `policyRow-${p.id}` })}
            pagination={{
              pageIndex: page - 1,
              pageSize: perPage,
              totalItemCount: answer?.total ?? 0,
              pageSizeOptions: PAGE_SIZES,
            }}
            onChange={({ page: p }: Criteria<AgentPolicy>) => {
              if (p) url.set({ page: p.index + 1 === 1 ? undefined : p.index + 1, perPage: p.size === 20 ? undefined : p.size });
            }}
          />
        )}
      </EuiPageTemplate.Section>
      {creating && (
        <CreatePolicyFlyout
          onClose={() => url.set({ flyout: undefined })}
          onCreated={(p) => {
            toastSuccess(`Agent policy '${p.name}' created`);
            url.set({ flyout: undefined }, { replace: true });
            void navigate(`/policies/${encodeURIComponent(p.id)}`);
          }}
        />
      )}
      {deleting && (
        <EuiConfirmModal
          title={`Delete agent policy '${deleting.name}'?`}
          onCancel={() => setDeleting(undefined)}
          onConfirm={confirmDelete}
          cancelButtonText="Cancel"
          confirmButtonText="Delete policy"
          buttonColor="danger"
          defaultFocusedButton="cancel"
          isLoading={deleteBusy}
          data-test-subj="deletePolicyModal"
        >
          <p>This cannot be undone. A policy that agents are assigned to cannot be deleted: reassign them first.</p>
          {deleteError && (
            <EuiCallOut title="The policy was not deleted" color="danger" iconType="error" data-test-subj="deletePolicyError" role="alert">
              {deleteError}
            </EuiCallOut>
          )}
        </EuiConfirmModal>
      )}
      <GlobalToasts />
    </>
  );
}

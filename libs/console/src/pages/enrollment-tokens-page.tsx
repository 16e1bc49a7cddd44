import {
  EuiBadge,
  EuiBasicTable,
  EuiButton,
  EuiButtonIcon,
  EuiConfirmModal,
  EuiEmptyPrompt,
  EuiFlexGroup,
  EuiFlexItem,
  EuiFormRow,
  EuiPageTemplate,
  EuiSelect,
  EuiSpacer,
  EuiText,
  EuiToolTip,
  type Criteria,
  type EuiBasicTableColumn,
} from '@elastic/eui';
import { useState } from 'react';
import { apiFetch, errorMessage } from '../api-client';
import { ConsoleLink } from '../components/console-link';
import { CreateEnrollmentTokenModal } from '../components/create-enrollment-token-modal';
import { PageError } from '../components/page-error';
import { GlobalToasts, toastDanger, toastSuccess } from '../components/toasts';
import { kueryEquals, type AgentPolicy, type EnrollmentToken, type ListAnswer } from '../fleet-types';
import { formatTime } from '../format';
import { useApiQuery } from '../hooks/use-api-query';
import { useUrlState } from '../hooks/use-url-state';
import { canAdminister, useSession } from '../session-context';

const PAGE_SIZES = [10, 20, 50, 100];
/** The policy picker lists up to this many policies (the list API's pages go to 10,000). */
const MAX_POLICIES = 1000;

/**
 * Enrollment tokens (Kibana's Fleet tab of the same name): the list (the secret is never listed:
 * the API does not return it), a policy filter (`?policyId=`) and paging in the URL, creation that
 * shows the token and its enroll command once, and revocation behind a confirmation.
 */
export function EnrollmentTokensPage() {
  const { session } = useSession();
  const admin = canAdminister(session);
  const url = useUrlState();
  const page = url.getInt('page', 1);
  const perPage = url.getInt('perPage', 20, 1, 100);
  const policyId = url.get('policyId');
  const policies = useApiQuery<ListAnswer<AgentPolicy>>('/api/fleet/agent_policies', { perPage: MAX_POLICIES });
  const tokens = useApiQuery<ListAnswer<EnrollmentToken>>('/api/fleet/enrollment_api_keys', {
    page,
    perPage,
    kuery: policyId ? kueryEquals('policy_id', policyId) : undefined,
  });
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<EnrollmentToken | undefined>();
  const [revokeBusy, setRevokeBusy] = useState(false);

  const policyList = policies.data?.items ?? [];
  const policyName = (id: string) => policyList.find((p) => p.id === id)?.name;

  const confirmRevoke = () => {
    if (!revoking) return;
    setRevokeBusy(true);
    apiFetch(`/api/fleet/enrollment_api_keys/${encodeURIComponent(revoking.id)}`, { method: 'DELETE' })
      .then(() => {
        toastSuccess(`Revoked enrollment token '${revoking.name}'`);
        tokens.reload();
      })
      .catch((err: unknown) => toastDanger('The token was not revoked', errorMessage(err)))
      .finally(() => {
        setRevokeBusy(false);
        setRevoking(undefined);
      });
  };

  const columns: EuiBasicTableColumn<EnrollmentToken>[] = [
    { field: 'name', name: 'Name', truncateText: true },
    {
      field: 'api_key_id',
      name: 'Secret',
      render: () => (
        <EuiToolTip content="Shown only once, when the token is created">
          <EuiText size="s" color="subdued" tabIndex={0} aria-label="Secret hidden">
            ••••••••••••
          </EuiText>
        </EuiToolTip>
      ),
    },
    {
      field: 'policy_id',
      name: 'Agent policy',
      render: (id: string) => <ConsoleLink to={`/policies/${encodeURIComponent(id)}`}>{policyName(id) ?? id}</ConsoleLink>,
    },
    { field: 'created_at', name: 'Created on', render: (t: string) => formatTime(t) },
    { field: 'expire_at', name: 'Expires', render: (t: string | undefined) => (t ? formatTime(t) : 'Never') },
    {
      field: 'active',
      name: 'Active',
      width: '100px',
      render: (active: boolean) => <EuiBadge color={active ? 'success' : 'default'}>{active ? 'Active' : 'Revoked'}</EuiBadge>,
    },
    {
      name: 'Actions',
      width: '80px',
      actions: [
        {
          render: (t: EnrollmentToken) => (
            <EuiToolTip content={!admin ? 'Only admins can revoke tokens' : t.active ? 'Revoke token' : 'Already revoked'}>
              <EuiButtonIcon
                iconType="trash"
                color="danger"
                aria-label={`Revoke token ${t.name}`}
                isDisabled={!admin || !t.active}
                onClick={() => setRevoking(t)}
                data-test-subj={`revokeEnrollmentToken-${t.id}`}
              />
            </EuiToolTip>
          ),
        },
      ],
    },
  ];

  const answer = tokens.data;
  return (
    <>
      <EuiPageTemplate.Header
        pageTitle="Enrollment tokens"
        description="An agent enrolls with a token of the policy it is to run."
        rightSideItems={[
          <EuiButton
            key="create"
            fill
            iconType="plusCircle"
            isDisabled={!admin || policyList.length === 0}
            onClick={() => setCreating(true)}
            data-test-subj="createEnrollmentTokenButton"
          >
            Create enrollment token
          </EuiButton>,
        ]}
      />
      <EuiPageTemplate.Section>
        {(tokens.error !== undefined || policies.error !== undefined) && (
          <>
            <PageError
              error={tokens.error ?? policies.error}
              title="The enrollment tokens could not be loaded"
              onRetry={() => {
                tokens.reload();
                policies.reload();
              }}
            />
            <EuiSpacer />
          </>
        )}
        <EuiFlexGroup>
          <EuiFlexItem grow={false} style={{ minWidth: 280 }}>
            <EuiFormRow label="Agent policy" display="columnCompressed">
              <EuiSelect
                compressed
                options={[{ value: '', text: 'All agent policies' }, ...policyList.map((p) => ({ value: p.id, text: p.name }))]}
                value={policyId ?? ''}
                onChange={(e) => url.set({ policyId: e.target.value, page: undefined })}
                data-test-subj="enrollmentTokensPolicyFilter"
                aria-label="Show the tokens of one agent policy"
              />
            </EuiFormRow>
          </EuiFlexItem>
        </EuiFlexGroup>
        <EuiSpacer size="m" />
        {answer && answer.total === 0 && !policyId ? (
          <EuiEmptyPrompt
            iconType="key"
            title={<h2>No enrollment tokens</h2>}
            body={<p>Create a token for an agent policy; agents enroll with it.</p>}
          />
        ) : (
          <EuiBasicTable<EnrollmentToken>
            tableCaption="Enrollment tokens"
            data-test-subj="enrollmentTokensTable"
            items={answer?.items ?? []}
            columns={columns}
            loading={tokens.loading}
            noItemsMessage={tokens.loading ? 'Loading enrollment tokens…' : 'No enrollment tokens for this policy'}
            rowProps={(t) => ({ 'data-test-subj': `enrollmentTokenRow-${t.id}` })}
            pagination={{ pageIndex: page - 1, pageSize: perPage, totalItemCount: answer?.total ?? 0, pageSizeOptions: PAGE_SIZES }}
            onChange={({ page: p }: Criteria<EnrollmentToken>) => {
              if (p) url.set({ page: p.index === 0 ? undefined : p.index + 1, perPage: p.size === 20 ? undefined : p.size });
            }}
          />
        )}
      </EuiPageTemplate.Section>
      {creating && (
        <CreateEnrollmentTokenModal
          policies={policyList}
          initialPolicyId={policyId}
          onClose={() => setCreating(false)}
          onCreated={() => tokens.reload()}
        />
      )}
      {revoking && (
        <EuiConfirmModal
          title={`Revoke enrollment token '${revoking.name}'?`}
          onCancel={() => setRevoking(undefined)}
          onConfirm={confirmRevoke}
          cancelButtonText="Cancel"
          confirmButtonText="Revoke enrollment token"
          buttonColor="danger"
          defaultFocusedButton="cancel"
          isLoading={revokeBusy}
          data-test-subj="revokeEnrollmentTokenModal"
        >
          <p>Agents can no longer enroll with it. Agents already enrolled with it are not affected.</p>
        </EuiConfirmModal>
      )}
      <GlobalToasts />
    </>
  );
}

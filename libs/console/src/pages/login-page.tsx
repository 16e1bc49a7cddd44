import { EuiButton, EuiCallOut, EuiFieldPassword, EuiForm, EuiFormRow, EuiPageTemplate, EuiSpacer, EuiText } from '@elastic/eui';
import { useState, type FormEvent } from 'react';
import { Navigate, useNavigate, useSearchParams } from 'react-router-dom';
import { errorMessage } from '../api-client';
import { useSession } from '../session-context';

/** Only paths inside the console are followed after sign-in (no open redirect). */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}

/** Sign-in: one token field. The token is exchanged for a session cookie and never kept here. */
export function LoginPage() {
  const { session, signIn } = useSession();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const next = safeNext(params.get('next'));

  if (session) return <Navigate to={next} replace />;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    signIn(token.trim())
      .then(() => {
        setToken('');
        return navigate(next, { replace: true });
      })
      .catch((err: unknown) => setError(errorMessage(err)))
      .finally(() => setBusy(false));
  };

  return (
    <EuiPageTemplate panelled={false} restrictWidth={480} grow>
      <EuiPageTemplate.Header pageTitle="Sign in to Fleet" />
      <EuiPageTemplate.Section>
        <EuiText size="s" color="subdued">
          <p>
            Paste the admin token (<code>data/admin-token</code>) or a management API key. It is exchanged for a session
            cookie; the browser does not keep the token.
          </p>
        </EuiText>
        <EuiSpacer />
        {error && (
          <>
            <EuiCallOut title="Sign-in failed" color="danger" iconType="error" data-test-subj="loginError" role="alert">
              {error}
            </EuiCallOut>
            <EuiSpacer />
          </>
        )}
        <EuiForm component="form" onSubmit={submit} data-test-subj="loginForm">
          <EuiFormRow label="Token" fullWidth>
            <EuiFieldPassword
              fullWidth
              type="dual"
              value={token}
              onChange={(e) => setToken(e.target.value)}
              autoComplete="off"
              autoFocus
              data-test-subj="loginTokenInput"
              name="token"
            />
          </EuiFormRow>
          <EuiSpacer />
          <EuiButton type="submit" fill isLoading={busy} isDisabled={!token.trim()} data-test-subj="loginSubmit">
            Sign in
          </EuiButton>
        </EuiForm>
      </EuiPageTemplate.Section>
    </EuiPageTemplate>
  );
}

import { EuiButton, EuiCallOut } from '@elastic/eui';
import { errorMessage } from '../api-client';

/** A failed load, in the API's own words (`pageError`), with a retry when there is one. */
export function PageError({ error, title, onRetry }: { error: unknown; title?: string; onRetry?: () => void }) {
  return (
    <EuiCallOut title={title ?? 'Something went wrong'} color="danger" iconType="error" data-test-subj="pageError" role="alert">
      <p>{errorMessage(error)}</p>
      {onRetry && (
        <EuiButton size="s" color="danger" onClick={onRetry}>
          Try again
        </EuiButton>
      )}
    </EuiCallOut>
  );
}

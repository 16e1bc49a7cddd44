import { EuiLink } from '@elastic/eui';
import type { ActionOutcome } from './agent-actions';

/** The toast's body: what was skipped and, for an action, the link to its live progress. */
export function OutcomeText({ outcome, onOpen }: { outcome: ActionOutcome; onOpen: (path: string) => void }) {
  const skipped = outcome.skipped ?? [];
  const path = outcome.actionId ? `/rollouts/actions/${encodeURIComponent(outcome.actionId)}` : undefined;
  return (
    <>
      {skipped.length > 0 && (
        <p>
          Skipped: {skipped.slice(0, 5).map((s) => `${s.id} (${s.reason})`).join(', ')}
          {skipped.length > 5 ? ` and ${skipped.length - 5} more` : ''}
        </p>
      )}
      {path && (
        <EuiLink
          href={`/app/fleet${path}`}
          data-test-subj="actionProgressLink"
          onClick={(e: React.MouseEvent) => {
            e.preventDefault();
            onOpen(path);
          }}
        >
          View progress
        </EuiLink>
      )}
    </>
  );
}

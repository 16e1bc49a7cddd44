import { EuiToolTip } from '@elastic/eui';
import moment from 'moment';

/** "3 minutes ago", with the exact local time on hover (not a tab stop: a table row would have several); "-" for none. */
export function RelativeTime({ iso, testSubj }: { iso: string | null | undefined; testSubj?: string }) {
  if (!iso) return <span data-test-subj={testSubj}>-</span>;
  const at = moment(iso);
  if (!at.isValid()) return <span data-test-subj={testSubj}>{iso}</span>;
  return (
    <EuiToolTip content={at.format('YYYY-MM-DD HH:mm:ss Z')}>
      <time dateTime={iso} data-test-subj={testSubj}>
        {at.fromNow()}
      </time>
    </EuiToolTip>
  );
}

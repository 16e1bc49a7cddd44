import { EuiToolTip } from '@elastic/eui';
import moment from 'moment';

/** "3 minutes ago", with the exact local time on hover and focus; "-" for none. */
export function RelativeTime({ iso, testSubj }: { iso: string | null | undefined; testSubj?: string }) {
  if (!iso) return <span data-test-subj={testSubj}>-</span>;
  const at = moment(iso);
  if (!at.isValid()) return <span data-test-subj={testSubj}>{iso}</span>;
  return (
    <EuiToolTip content={at.format('YYYY-MM-DD HH:mm:ss Z')}>
      <time dateTime={iso} tabIndex={0} data-test-subj={testSubj}>
        {at.fromNow()}
      </time>
    </EuiToolTip>
  );
}

import { EuiPageTemplate } from '@elastic/eui';

/** Skeleton: filled in by the page's work item. */
export function RolloutPage() {
  return <EuiPageTemplate.Header pageTitle="Rollout progress" />;
}

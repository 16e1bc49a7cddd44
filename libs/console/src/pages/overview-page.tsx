import { EuiPageTemplate } from '@elastic/eui';

/** Skeleton: filled in by the page's work item. */
export function OverviewPage() {
  return <EuiPageTemplate.Header pageTitle="Overview" />;
}

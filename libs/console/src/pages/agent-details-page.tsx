import { EuiPageTemplate } from '@elastic/eui';

/** Skeleton: filled in by the page's work item. */
export function AgentDetailsPage() {
  return <EuiPageTemplate.Header pageTitle="Agent details" />;
}

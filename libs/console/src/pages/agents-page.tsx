import { EuiPageTemplate } from '@elastic/eui';

/** Skeleton: filled in by the page's work item. */
export function AgentsPage() {
  return <EuiPageTemplate.Header pageTitle="Agents" />;
}

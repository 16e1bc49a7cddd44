import { EuiPageTemplate } from '@elastic/eui';

/** Skeleton: filled in by the page's work item. */
export function PoliciesPage() {
  return <EuiPageTemplate.Header pageTitle="Agent policies" />;
}

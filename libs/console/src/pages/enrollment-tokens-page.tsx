import { EuiPageTemplate } from '@elastic/eui';

/** Skeleton: filled in by the page's work item. */
export function EnrollmentTokensPage() {
  return <EuiPageTemplate.Header pageTitle="Enrollment tokens" />;
}

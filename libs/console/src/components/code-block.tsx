import { EuiSkeletonText, type EuiCodeBlockProps } from '@elastic/eui';
import { lazy, Suspense } from 'react';

// EuiCodeBlock brings its syntax highlighter (refractor, the largest part of EUI's code): its own
// chunk, loaded when a page first shows code.
const EuiCodeBlockChunk = lazy(() => import('./code-block-chunk'));

/** EuiCodeBlock, loaded on first use; a skeleton stands in meanwhile. */
export function CodeBlock(props: EuiCodeBlockProps) {
  return (
    <Suspense fallback={<EuiSkeletonText lines={3} isLoading contentAriaLabel="Loading" />}>
      <EuiCodeBlockChunk {...props} />
    </Suspense>
  );
}

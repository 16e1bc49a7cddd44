import { EuiCodeBlock, type EuiCodeBlockProps } from '@elastic/eui';

/** The lazily loaded half of CodeBlock (see code-block.tsx). */
export default function CodeBlockChunk(props: EuiCodeBlockProps) {
  return <EuiCodeBlock {...props} />;
}

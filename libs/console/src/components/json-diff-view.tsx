import { json } from '@codemirror/lang-json';
import { MergeView } from '@codemirror/merge';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { useEuiTheme } from '@elastic/eui';
import { basicSetup } from 'codemirror';
import { useEffect, useRef } from 'react';
import { cspNonceExtension, editorTheme } from './code-mirror-setup';

/**
 * A read-only side-by-side diff of two JSON texts (CodeMirror's MergeView): the current revision on
 * the left, the edited one on the right; long unchanged stretches are folded.
 */
export function JsonDiffView({ before, after, dataTestSubj }: { before: string; after: string; dataTestSubj?: string }) {
  const { euiTheme, colorMode } = useEuiTheme();
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!host.current) return;
    const shared = [
      cspNonceExtension(),
      basicSetup,
      json(),
      EditorState.readOnly.of(true),
      EditorView.editable.of(false),
      editorTheme(euiTheme, colorMode === 'DARK'),
    ];
    const view = new MergeView({
      parent: host.current,
      a: { doc: before, extensions: [...shared, EditorView.contentAttributes.of({ 'aria-label': 'Current revision' })] },
      b: { doc: after, extensions: [...shared, EditorView.contentAttributes.of({ 'aria-label': 'Your changes' })] },
      collapseUnchanged: { margin: 3, minSize: 6 },
      gutter: true,
      highlightChanges: true,
    });
    return () => view.destroy();
  }, [before, after, euiTheme, colorMode]);

  return <div ref={host} data-test-subj={dataTestSubj} />;
}

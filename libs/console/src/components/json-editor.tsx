import { json, jsonParseLinter } from '@codemirror/lang-json';
import { syntaxTree } from '@codemirror/language';
import { linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { Compartment, EditorState, type Extension } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { indentWithTab } from '@codemirror/commands';
import { useEuiTheme } from '@elastic/eui';
import { basicSetup } from 'codemirror';
import { useEffect, useRef } from 'react';
import { cspNonceExtension, editorTheme } from './code-mirror-setup';

/** A problem the caller found in the parsed document, placed on a top-level field (or the whole). */
export interface DocumentProblem {
  key?: string;
  message: string;
}

/** Where each top-level field of the JSON object in the editor is (its name and value). */
function topLevelFields(state: EditorState): Map<string, { from: number; to: number }> {
  const out = new Map<string, { from: number; to: number }>();
  const object = syntaxTree(state).topNode.getChild('Object');
  if (!object) return out;
  for (const property of object.getChildren('Property')) {
    const name = property.getChild('PropertyName');
    if (!name) continue;
    const raw = state.sliceDoc(name.from, name.to);
    let key: string;
    try {
      key = String(JSON.parse(raw));
    } catch {
      key = raw.replace(/^"|"$/g, '');
    }
    out.set(key, { from: property.from, to: property.to });
  }
  return out;
}

/**
 * The JSON linter: syntax errors where the parser stopped, then the caller's checks of the parsed
 * document, marked on the field they are about.
 */
function jsonLinter(check: (doc: unknown) => DocumentProblem[]): Extension {
  const parseErrors = jsonParseLinter();
  return linter(
    (view) => {
      const syntax = parseErrors(view);
      if (syntax.length > 0) return syntax;
      let doc: unknown;
      try {
        doc = JSON.parse(view.state.doc.toString()) as unknown;
      } catch {
        return [];
      }
      const fields = topLevelFields(view.state);
      return check(doc).map((p): Diagnostic => {
        const at = (p.key !== undefined ? fields.get(p.key) : undefined) ?? { from: 0, to: Math.min(view.state.doc.length, 1) };
        return { from: at.from, to: at.to, severity: 'error', message: p.message, source: 'policy' };
      });
    },
    { delay: 300 },
  );
}

/**
 * A CodeMirror 6 JSON editor with lint markers (syntax and the caller's checks), following the
 * EUI color mode. Tab indents; Escape then Tab leaves the editor (CodeMirror's focus escape), so
 * keyboard users are not trapped.
 */
export function JsonEditor({
  value,
  onChange,
  check,
  ariaLabel,
  dataTestSubj,
  height = '480px',
}: {
  value: string;
  onChange: (text: string) => void;
  check: (doc: unknown) => DocumentProblem[];
  ariaLabel: string;
  dataTestSubj?: string;
  height?: string;
}) {
  const { euiTheme, colorMode } = useEuiTheme();
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | undefined>(undefined);
  const themeSlot = useRef(new Compartment());
  const lintSlot = useRef(new Compartment());
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          cspNonceExtension(),
          basicSetup,
          keymap.of([indentWithTab]),
          json(),
          lintGutter(),
          lintSlot.current.of(jsonLinter(check)),
          themeSlot.current.of(editorTheme(euiTheme, colorMode === 'DARK')),
          EditorView.contentAttributes.of({ 'aria-label': ariaLabel }),
          EditorView.theme({ '&': { height }, '.cm-scroller': { overflow: 'auto' } }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = undefined;
    };
    // The editor is made once (empty dependencies); later props reach it through the effects below.
  }, []);

  useEffect(() => {
    view.current?.dispatch({ effects: themeSlot.current.reconfigure(editorTheme(euiTheme, colorMode === 'DARK')) });
  }, [euiTheme, colorMode]);

  useEffect(() => {
    view.current?.dispatch({ effects: lintSlot.current.reconfigure(jsonLinter(check)) });
  }, [check]);

  // A value set from outside (a reset) replaces the document; the editor's own edits come back equal.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  return <div ref={host} data-test-subj={dataTestSubj} />;
}

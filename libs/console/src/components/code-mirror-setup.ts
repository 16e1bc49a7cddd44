import { HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import type { Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import type { EuiThemeComputed } from '@elastic/eui';
import { tags } from '@lezer/highlight';
import { readCspNonce } from '../csp-nonce';

/**
 * CodeMirror injects its styles as <style> elements; the console's Content-Security-Policy allows
 * them only with this response's nonce (empty under `vite` dev, which has no CSP).
 */
export function cspNonceExtension(): Extension {
  const nonce = readCspNonce();
  return nonce ? EditorView.cspNonce.of(nonce) : [];
}

/** Editor colors from the EUI theme in use, so the editor follows the light and dark modes. */
export function editorTheme(euiTheme: EuiThemeComputed, dark: boolean): Extension {
  const c = euiTheme.colors;
  const theme = EditorView.theme(
    {
      '&': {
        color: c.text,
        backgroundColor: c.emptyShade,
        fontSize: '13px',
        border: `1px solid ${c.lightShade}`,
        borderRadius: '6px',
      },
      '&.cm-focused': { outline: `2px solid ${c.primary}`, outlineOffset: '-1px' },
      '.cm-content': { fontFamily: euiTheme.font.familyCode ?? 'monospace', caretColor: c.text },
      '.cm-cursor, .cm-dropCursor': { borderLeftColor: c.text },
      '.cm-gutters': { backgroundColor: c.lightestShade, color: c.subduedText, borderRight: `1px solid ${c.lightShade}` },
      '.cm-activeLine': { backgroundColor: dark ? 'rgba(255,255,255,0.04)' : 'rgba(0,0,0,0.03)' },
      '.cm-activeLineGutter': { backgroundColor: c.lightShade },
      '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': {
        backgroundColor: dark ? 'rgba(97,162,255,0.35)' : 'rgba(0,119,204,0.2)',
      },
      '.cm-tooltip': { backgroundColor: c.emptyShade, color: c.text, border: `1px solid ${c.lightShade}` },
      '.cm-panels': { backgroundColor: c.lightestShade, color: c.text },
      '.cm-mergeView': { border: `1px solid ${c.lightShade}`, borderRadius: '6px' },
    },
    { dark },
  );
  const highlight = HighlightStyle.define(
    [
      { tag: tags.propertyName, color: dark ? '#79aad9' : '#0b64dd' },
      { tag: tags.string, color: dark ? '#54b399' : '#00805b' },
      { tag: [tags.number, tags.bool, tags.null], color: dark ? '#d6bf57' : '#a05c00' },
      { tag: tags.invalid, color: c.danger },
    ],
    { themeType: dark ? 'dark' : 'light' },
  );
  return [theme, syntaxHighlighting(highlight)];
}

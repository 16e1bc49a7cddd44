/** The nonce the server wrote into index.html for this response (see the console router). */
export function readCspNonce(): string | undefined {
  const value = document.querySelector('meta[name="csp-nonce"]')?.getAttribute('content');
  return value && value !== '__CSP_NONCE__' ? value : undefined;
}

/**
 * The command a stock Elastic Agent enrolls with, as `npm start` prints it (see `enrollCommand` in
 * services/policy-dispatcher/src/bootstrap.ts), with the token itself instead of `$(cat <file>)`.
 * The URL is where this page is served from: the console and the agent API share one listener.
 * Over plain HTTP the agent refuses the URL unless `--insecure` is given, so the command carries it
 * then. Over HTTPS on the server's own generated CA the agent also needs
 * `--certificate-authorities=<data dir>/tls/ca.crt`; the page cannot tell which CA the server uses
 * nor where its data directory is, so it says so next to the command (see CA_FLAG).
 */
export function enrollCommand(origin: string, token: string): string {
  const insecure = origin.startsWith('http://') ? ' --insecure' : '';
  return `elastic-agent enroll --url=${origin} --enrollment-token=${token}${insecure}`;
}

/** The flag `npm start` adds when the server made its own CA (data/tls/ca.crt by default). */
export const CA_FLAG = '--certificate-authorities=<data dir>/tls/ca.crt';

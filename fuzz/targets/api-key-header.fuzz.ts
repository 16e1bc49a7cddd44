import { validateHeaderValue } from 'node:http';
import { MalformedAuthHeaderError, MalformedTokenError, NoAuthHeaderError, parseApiKeyHeader } from '@fleet/service-kit';
import { AGENT_UA, fuzzApp, sendAndCheck } from '../support/fleet-app';
import { readInput } from '../support/fuzz-input';

/**
 * `Authorization: ApiKey base64(id:secret)`. The parser may only refuse with its three errors, and
 * what it accepts has a non-empty id and secret without a colon. Flag bit 0 also sends the header
 * on a checkin through the real pipeline (parser, cached authenticator, store lookup), which must
 * answer 4xx (the fuzzer does not know a key) with a JSON error, never 5xx.
 */
const ALLOWED = [NoAuthHeaderError, MalformedAuthHeaderError, MalformedTokenError];

export async function fuzz(data: Buffer): Promise<void> {
  const { flags, rest } = readInput(data, 1);
  const header = rest.toString('latin1');
  try {
    const creds = parseApiKeyHeader(header);
    if (!creds.id || !creds.secret || creds.id.includes(':') || creds.secret.includes(':')) {
      throw new Error(`parseApiKeyHeader(${JSON.stringify(header)}) accepted ${JSON.stringify(creds)}`);
    }
  } catch (err) {
    if (!ALLOWED.some((E) => err instanceof E)) throw err;
  }
  if (!(flags & 1)) return;
  try {
    validateHeaderValue('authorization', header);
  } catch {
    return; // Node's client refuses to send it, and so would any HTTP/1.1 peer's parser.
  }
  const app = await fuzzApp();
  const res = await sendAndCheck(app, {
    method: 'POST',
    path: `/api/fleet/agents/${app.agent.id}/checkin`,
    headers: { 'user-agent': AGENT_UA, 'content-type': 'application/json', authorization: header },
    body: '{"status":"online"}',
  });
  if (res?.status === 200 && header !== app.agent.auth) throw new Error(`a made-up key was let in: ${JSON.stringify(header)}`);
}

import { gzipSync } from 'node:zlib';
import { AGENT_UA, fuzzApp, sendAndCheck } from '../support/fleet-app';
import { readInput } from '../support/fuzz-input';

/**
 * Gzip checkin bodies (Content-Encoding: gzip). Route 0 sends the bytes as the gzip stream itself
 * (truncated, corrupt or concatenated members, bad trailers); route 1 gzips them, so the inflated
 * JSON is what is fuzzed. Flag bit 0 sends a wrong key: the body must then not matter at all.
 */
export async function fuzz(data: Buffer): Promise<void> {
  const app = await fuzzApp();
  const { route, flags, rest } = readInput(data, 2);
  const body = route === 0 ? rest : gzipSync(rest);
  const auth = flags & 1 ? `ApiKey ${Buffer.from('unknown-key-id:made-up-secret').toString('base64')}` : app.agent.auth;
  await sendAndCheck(app, {
    method: 'POST',
    path: `/api/fleet/agents/${app.agent.id}/checkin`,
    headers: { 'user-agent': AGENT_UA, 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: auth },
    body,
  });
}

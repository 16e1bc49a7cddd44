import { createHash } from 'node:crypto';
import { AGENT_UA, fuzzApp, pathSegment, sendAndCheck, type FuzzApp, type FuzzRequest } from '../support/fleet-app';
import { readInput } from '../support/fuzz-input';

/**
 * The upload protocol: begin (JSON), chunks (raw bytes, X-Chunk-SHA2, chunk number in the path),
 * complete (JSON with transithash). Chunks go to an upload begun at start for a 32 MiB file, so
 * they land; flag bit 0 sends the chunk's true SHA-256, otherwise the header comes from the input.
 */
export const ROUTES = ['begin', 'chunk', 'complete', 'chunk-path'] as const;

function build(app: FuzzApp, route: (typeof ROUTES)[number], flags: number, rest: Buffer): FuzzRequest {
  const headers = { 'user-agent': AGENT_UA, authorization: app.agent.auth };
  const json = { ...headers, 'content-type': 'application/json' };
  switch (route) {
    case 'begin':
      return { method: 'POST', path: '/api/fleet/uploads', headers: json, body: rest };
    case 'chunk': {
      const num = rest[0] ?? 0;
      const chunk = rest.subarray(1);
      const sha2 = flags & 1 ? createHash('sha256').update(chunk).digest('hex') : chunk.subarray(0, 64).toString('latin1').replace(/[^\x20-\x7e]/g, '');
      return { method: 'PUT', path: `/api/fleet/uploads/${app.uploadId}/${num}`, headers: { ...headers, 'x-chunk-sha2': sha2 }, body: chunk };
    }
    case 'complete':
      return { method: 'POST', path: `/api/fleet/uploads/${app.uploadId}`, headers: json, body: rest };
    case 'chunk-path': {
      const cut = Math.max(0, rest.indexOf(0x2f));
      return {
        method: 'PUT',
        path: `/api/fleet/uploads/${pathSegment(rest.subarray(0, cut))}/${pathSegment(rest.subarray(cut + 1, cut + 40))}`,
        headers: { ...headers, 'x-chunk-sha2': createHash('sha256').update('').digest('hex') },
        body: '',
      };
    }
  }
}

export async function fuzz(data: Buffer): Promise<void> {
  const app = await fuzzApp();
  const { route, flags, rest } = readInput(data, ROUTES.length);
  await sendAndCheck(app, build(app, ROUTES[route]!, flags, rest));
}

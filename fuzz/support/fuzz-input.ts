/**
 * The byte layout every HTTP target reads, so committed seeds stay readable: byte 0 picks a route,
 * byte 1 holds flags, the rest is the body (or the path segment, query string or header a route
 * takes from it). `fuzz/make-seeds.ts` writes seeds in this layout.
 */
export interface FuzzInput {
  route: number;
  flags: number;
  rest: Buffer;
}

export function readInput(data: Buffer, routes: number): FuzzInput {
  return { route: (data[0] ?? 0) % routes, flags: data[1] ?? 0, rest: data.subarray(2) };
}

export function encodeInput(route: number, flags: number, rest: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from([route, flags]), Buffer.isBuffer(rest) ? rest : Buffer.from(rest, 'utf8')]);
}

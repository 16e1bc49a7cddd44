import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { gunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import {
  API_VERSION,
  type AckEvent,
  type AckResponse,
  type AuditUnenrollRequest,
  type CheckinRequest,
  type CheckinResponse,
  type EnrollRequest,
  type EnrollResponse,
  type ErrorBody,
  type StatusResponse,
  type UploadBeginRequest,
  type UploadBeginResponse,
} from './wire-types';

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

/** A non-2xx answer from Fleet Server, with its parsed `{statusCode, error, message}` body. */
export class FleetApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody | undefined,
    readonly headers: IncomingHttpHeaders,
  ) {
    super(`fleet server answered ${status}${body ? ` ${body.error}: ${body.message ?? ''}` : ''}`);
    this.name = 'FleetApiError';
  }
}

export interface AgentClientOptions {
  /** Fleet Server URL, e.g. `http://127.0.0.1:8220`. */
  url: string;
  /** Version the agent claims in `User-Agent: Elastic Agent v<version>`. */
  agentVersion?: string;
  /** Local address to bind (spreads sockets over 127.0.0.x in load tests). */
  localAddress?: string;
  /** Shared keep-alive agent; one is created per client if omitted. */
  httpAgent?: HttpAgent;
  /** Send `Accept-Encoding: gzip` (the real agent does). Default true. */
  acceptGzip?: boolean;
  /** Gzip request bodies. Default false. */
  gzipRequests?: boolean;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface HttpResult<T> {
  status: number;
  headers: IncomingHttpHeaders;
  body: T;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Socket inactivity timeout for this call, ms. */
  timeoutMs?: number;
}

/**
 * A typed Elastic Agent: enrolls, then checks in, acks and reports like elastic-agent does. It
 * keeps the agent id, access key and ack token between calls, and only replaces the ack token
 * with a non-empty one (as the real agent persists it).
 */
export class FleetAgentClient {
  agentId: string | undefined;
  accessApiKey: string | undefined;
  ackToken = '';
  lastResponseHeaders: IncomingHttpHeaders = {};
  private readonly base: URL;
  private readonly httpAgent: HttpAgent;
  private readonly version: string;

  constructor(private readonly opts: AgentClientOptions) {
    this.base = new URL(opts.url);
    this.version = opts.agentVersion ?? '9.1.0';
    this.httpAgent =
      opts.httpAgent ?? (this.base.protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }));
  }

  /** `POST /api/fleet/agents/enroll` with an enrollment token; remembers the agent id and access key. */
  async enroll(enrollmentToken: string, body: EnrollRequest, call?: CallOptions): Promise<EnrollResponse> {
    const res = await this.call<EnrollResponse>('POST', '/api/fleet/agents/enroll', body, `ApiKey ${enrollmentToken}`, call);
    this.agentId = res.body.item.id;
    this.accessApiKey = res.body.item.access_api_key;
    return res.body;
  }

  /** One checkin (a long poll unless the server has something); sends and updates the ack token. */
  async checkin(body: Omit<CheckinRequest, 'ack_token'> & { ack_token?: string }, call?: CallOptions): Promise<CheckinResponse> {
    const request: CheckinRequest = { ...body, ack_token: body.ack_token ?? this.ackToken };
    const res = await this.call<CheckinResponse>('POST', `/api/fleet/agents/${this.requireId()}/checkin`, request, this.agentAuth(), call);
    if (res.body.ack_token) this.ackToken = res.body.ack_token;
    return res.body;
  }

  async ack(events: AckEvent[], call?: CallOptions): Promise<HttpResult<AckResponse>> {
    return this.call<AckResponse>('POST', `/api/fleet/agents/${this.requireId()}/acks`, { events }, this.agentAuth(), call, true);
  }

  async auditUnenroll(body: AuditUnenrollRequest, call?: CallOptions): Promise<void> {
    await this.call<unknown>('POST', `/api/fleet/agents/${this.requireId()}/audit/unenroll`, body, this.agentAuth(), call);
  }

  /** `GET /api/status`, authenticated with the access key when the agent has one. */
  async status(call?: CallOptions): Promise<HttpResult<StatusResponse>> {
    return this.call<StatusResponse>('GET', '/api/status', undefined, this.accessApiKey ? this.agentAuth() : undefined, call, true);
  }

  /** `POST /api/fleet/uploads`: starts an upload of a file for an action (the body as elastic-agent sends it). */
  async uploadBegin(body: UploadBeginRequest, call?: CallOptions): Promise<UploadBeginResponse> {
    return (await this.call<UploadBeginResponse>('POST', '/api/fleet/uploads', body, this.agentAuth(), call)).body;
  }

  /** `PUT /api/fleet/uploads/:id/:n`: one chunk as raw bytes, with its SHA-256 in `X-Chunk-SHA2` (computed unless given). */
  async uploadChunk(uploadId: string, chunkNum: number, data: Buffer, sha2?: string, call: CallOptions = {}): Promise<void> {
    const headers: Record<string, string> = {
      'User-Agent': `Elastic Agent v${this.version}`,
      'Elastic-Api-Version': API_VERSION,
      Accept: 'application/json',
      Authorization: this.agentAuth(),
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(data.length),
      'X-Chunk-SHA2': sha2 ?? createHash('sha256').update(data).digest('hex'),
      ...this.opts.headers,
    };
    const path = `/api/fleet/uploads/${encodeURIComponent(uploadId)}/${chunkNum}`;
    const raw = await this.send('PUT', path, headers, data, call);
    if (raw.status < 200 || raw.status >= 300) {
      const text = raw.data.toString('utf8');
      throw new FleetApiError(raw.status, text ? (JSON.parse(text) as ErrorBody) : undefined, raw.headers);
    }
  }

  /** `POST /api/fleet/uploads/:id`: ends the upload with its transit hash. */
  async uploadFinish(uploadId: string, transithash: string, call?: CallOptions): Promise<{ status: string }> {
    const path = `/api/fleet/uploads/${encodeURIComponent(uploadId)}`;
    return (await this.call<{ status: string }>('POST', path, { transithash: { sha256: transithash } }, this.agentAuth(), call)).body;
  }

  /**
   * Uploads a whole file as elastic-agent does: begin, the chunks of the size the server answered
   * (each with its SHA-256), then the end with the transit hash (SHA-256 over the raw chunk digests).
   */
  async uploadFile(
    file: { actionId: string; name: string; mimeType: string; data: Buffer; src?: string },
    call?: CallOptions,
  ): Promise<{ uploadId: string; transithash: string }> {
    const ext = file.name.includes('.') ? file.name.slice(file.name.lastIndexOf('.') + 1) : '';
    const begin = await this.uploadBegin(
      {
        action_id: file.actionId,
        agent_id: this.requireId(),
        src: file.src ?? 'agent',
        file: { size: file.data.length, name: file.name, ext, mime_type: file.mimeType, hash: { sha256: '', md5: '' } },
        contents: null,
      },
      call,
    );
    const transit = createHash('sha256');
    for (let n = 0, offset = 0; offset < file.data.length; n++, offset += begin.chunk_size) {
      const chunk = file.data.subarray(offset, offset + begin.chunk_size);
      const digest = createHash('sha256').update(chunk).digest();
      transit.update(digest);
      await this.uploadChunk(begin.upload_id, n, chunk, digest.toString('hex'), call);
    }
    const transithash = transit.digest('hex');
    await this.uploadFinish(begin.upload_id, transithash, call);
    return { uploadId: begin.upload_id, transithash };
  }

  /** Closes kept-alive sockets of a client-owned agent. */
  close(): void {
    if (!this.opts.httpAgent) this.httpAgent.destroy();
  }

  private requireId(): string {
    if (!this.agentId) throw new Error('agent is not enrolled');
    return this.agentId;
  }

  private agentAuth(): string {
    if (!this.accessApiKey) throw new Error('agent is not enrolled');
    return `ApiKey ${this.accessApiKey}`;
  }

  /** Sends one request; rejects with FleetApiError on non-2xx unless `acceptAnyStatus`. */
  async call<T>(
    method: string,
    path: string,
    body: unknown,
    authorization: string | undefined,
    call: CallOptions = {},
    acceptAnyStatus = false,
  ): Promise<HttpResult<T>> {
    const headers: Record<string, string> = {
      'User-Agent': `Elastic Agent v${this.version}`,
      'Elastic-Api-Version': API_VERSION,
      Accept: 'application/json',
      ...(this.opts.acceptGzip === false ? {} : { 'Accept-Encoding': 'gzip' }),
      ...(authorization ? { Authorization: authorization } : {}),
      ...this.opts.headers,
    };
    let payload: Buffer | undefined;
    if (body !== undefined) {
      payload = Buffer.from(JSON.stringify(body));
      headers['Content-Type'] = 'application/json';
      if (this.opts.gzipRequests) {
        payload = await gzipAsync(payload);
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Content-Length'] = String(payload.length);
    }
    const raw = await this.send(method, path, headers, payload, call).catch((err: NodeJS.ErrnoException & { reusedSocket?: boolean }) => {
      // A kept-alive socket the server closed meanwhile: the request never reached it, send it again once.
      if (err.reusedSocket && err.code === 'ECONNRESET') return this.send(method, path, headers, payload, call);
      throw err;
    });
    this.lastResponseHeaders = raw.headers;
    const data = raw.headers['content-encoding'] === 'gzip' ? await gunzipAsync(raw.data) : raw.data;
    const parsed: unknown = data.length ? JSON.parse(data.toString('utf8')) : undefined;
    if ((raw.status < 200 || raw.status >= 300) && !acceptAnyStatus) {
      throw new FleetApiError(raw.status, parsed as ErrorBody | undefined, raw.headers);
    }
    return { status: raw.status, headers: raw.headers, body: parsed as T };
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    payload: Buffer | undefined,
    call: CallOptions,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; data: Buffer }> {
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<{ status: number; headers: IncomingHttpHeaders; data: Buffer }>((resolve, reject) => {
      const req = send(
        new URL(path, this.base),
        {
          method,
          headers,
          agent: this.httpAgent,
          ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
          ...(call.signal ? { signal: call.signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, data: Buffer.concat(chunks) }));
          res.once('error', reject);
        },
      );
      if (call.timeoutMs) req.setTimeout(call.timeoutMs, () => req.destroy(new Error('request timed out')));
      req.once('error', (err: NodeJS.ErrnoException) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      req.end(payload);
    });
  }
}

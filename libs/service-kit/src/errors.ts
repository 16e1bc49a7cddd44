import { STATUS_CODES } from 'node:http';
import { DocumentConflictError, DocumentNotFoundError, StoreOverloadedError, StorePermissionError, StoreUnavailableError } from '@fleet/store';

/** Base of every failure the services raise on purpose. The HTTP status comes from `ERROR_TABLE`. */
export class FleetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

// ---- authentication and identity ---------------------------------------------------------------
export class NoAuthHeaderError extends FleetError {
  constructor() { super('no authorization header'); }
}
export class MalformedAuthHeaderError extends FleetError {
  constructor() { super('malformed authorization header'); }
}
export class MalformedTokenError extends FleetError {
  constructor() { super('malformed api key token'); }
}
export class InvalidApiKeyError extends FleetError {
  constructor() { super('invalid api key'); }
}
export class ApiKeyDisabledError extends FleetError {
  constructor() { super('ApiKey not enabled'); }
}
export class AgentInactiveError extends FleetError {
  constructor() { super('agent inactive'); }
}
export class AgentIdentityError extends FleetError {
  constructor() { super('agent header contains wrong identifier'); }
}
export class AgentCorruptedError extends FleetError {
  constructor() { super('agent record corrupted'); }
}
export class AgentNotFoundError extends FleetError {
  constructor(agentId: string) { super(`agent ${agentId} not found`); }
}
export class AgentNotReplaceableError extends FleetError {
  constructor(agentId: string) { super(`agent with ID ${agentId} cannot be replaced`); }
}
export class AdminUnauthorizedError extends FleetError {
  constructor() { super('missing or invalid admin token'); }
}
/** A valid management key whose role does not allow the call. */
export class ManagementForbiddenError extends FleetError {}
/** A console session's mutating call without the session's CSRF token in its header. */
export class CsrfTokenError extends FleetError {
  constructor() { super('a console session call that changes something must repeat the session\'s CSRF token in X-Fleet-CSRF-Token'); }
}

// ---- request shape -----------------------------------------------------------------------------
export class InvalidUserAgentError extends FleetError {}
export class UnsupportedAgentVersionError extends FleetError {}
export class InvalidApiVersionFormatError extends FleetError {}
export class UnsupportedApiVersionError extends FleetError {}
export class PayloadTooLargeError extends FleetError {
  constructor(limit: number) { super(`request body exceeds ${limit} bytes`); }
}
export class UnsupportedMediaTypeError extends FleetError {}
/** Malformed or invalid body of an agent-API request. */
export class BadRequestError extends FleetError {}
/** Invalid input to the management API. */
export class InputError extends FleetError {}
/** A URI sent to agents (MIGRATE target_uri, upgrade source_uri) outside its configured allow-list. */
export class UriNotAllowedError extends FleetError {}

// ---- domain ------------------------------------------------------------------------------------
export class PolicyNotFoundError extends FleetError {}
export class AuditReasonConflictError extends FleetError {}
export class NotFoundError extends FleetError {}
export class ConflictError extends FleetError {}
/** A conditional change (`If-Match`) whose precondition does not hold: nothing was changed. */
export class PreconditionFailedError extends FleetError {}

// ---- file delivery, artifacts, PGP key (elastic/fleet-server's names) ---------------------------
export class FileForDeliveryNotFoundError extends FleetError {
  constructor() { super('file not found'); }
}
export class ClientFileForbiddenError extends FleetError {
  constructor() { super('client forbidden'); }
}
export class RangeNotSatisfiableError extends FleetError {}
export class MultipartRangeNotSupportedError extends RangeNotSatisfiableError {}
/** The stored chunks do not make up the file its metadata describes: nothing is served. */
export class FileIncompleteError extends FleetError {}
/** The agent's policy does not list the artifact (or the agent has no policy). */
export class ArtifactForbiddenError extends FleetError {}
/** Too many artifact fetches from the store in flight. */
export class ArtifactThrottleError extends FleetError {
  constructor(readonly retryAfterSeconds = 1) { super('too many requests'); }
}
/** A stored artifact whose bytes do not match its encoded_sha256 (or its record): never served. */
export class ArtifactMismatchError extends FleetError {}
export class TlsRequiredError extends FleetError {
  constructor() { super('server must run with tls to use this endpoint'); }
}
export class PgpKeyNotFoundError extends FleetError {}
export class PgpKeyPermissionsError extends FleetError {}

// ---- file uploads (elastic/fleet-server's uploader errors) ---------------------------------------
export class UploadFieldRequiredError extends FleetError {}
export class UploadFileSizeRequiredError extends FleetError {
  constructor() { super('file.size is required'); }
}
export class UploadInvalidFileSizeError extends FleetError {}
export class UploadFileSizeTooLargeError extends FleetError {
  constructor() { super('this file exceeds the maximum allowed file size'); }
}
export class UploadFeatureDisabledError extends FleetError {
  constructor() { super('feature is disabled via fleet server configuration'); }
}
/** The upload id names no upload (the reference calls it ErrAPIKeyNotFound, sic). */
export class UploadNotFoundError extends FleetError {
  constructor() { super('active upload not found with this ID, it may be expired'); }
}
/** The upload's action is not addressed to the calling agent. */
export class UploadActionForbiddenError extends FleetError {}
/** An upload of this action by this agent exists already. */
export class UploadConflictError extends FleetError {}
export class UploadHashMismatchError extends FleetError {
  constructor() { super('hash does not match'); }
}
export class UploadExpiredError extends FleetError {
  constructor() { super('upload has expired'); }
}
export class UploadStoppedError extends FleetError {
  constructor() { super('upload has stopped'); }
}
export class UploadInvalidChunkNumError extends FleetError {
  constructor() { super('invalid chunk number'); }
}
export class UploadMissingChunksError extends FleetError {
  constructor() { super('file data incomplete, not all chunks were uploaded'); }
}
export class UploadFailValidationError extends FleetError {
  constructor() { super('file contents failed validation'); }
}
export class UploadClosedError extends FleetError {
  constructor() { super('file closed, not accepting uploads'); }
}
export class TransitHashRequiredError extends FleetError {
  constructor() { super('transit hash required'); }
}

// ---- load and availability ---------------------------------------------------------------------
export class RateLimitError extends FleetError {
  constructor(readonly retryAfterSeconds = 1) { super('exceeded the rate limit'); }
}
export class MaxLimitError extends FleetError {
  constructor(readonly retryAfterSeconds = 1) { super('exceeded the max limit'); }
}
/** A bounded queue (e.g. pending status writes) is full. */
export class BackpressureError extends FleetError {
  constructor(message: string, readonly retryAfterSeconds = 5) { super(message); }
}
export class DrainingError extends FleetError {
  constructor() { super('server is shutting down'); }
}
export class ServiceUnavailableError extends FleetError {}
export class RouteNotFoundError extends FleetError {
  constructor(path: string) { super(`no route for ${path}`); }
}
/** A method the path does not take (the console's static files: GET and HEAD only). */
export class MethodNotAllowedError extends FleetError {
  constructor(method: string, readonly allow: readonly string[]) { super(`${method} is not allowed here (allowed: ${allow.join(', ')})`); }
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * The one table from failure kind to HTTP status and the `error` field of the body. The agent API
 * uses elastic/fleet-server's error names; the management API renders the HTTP reason phrase, as Kibana does.
 */
export const ERROR_TABLE: ReadonlyArray<readonly [ErrorClass, number, string]> = [
  [NoAuthHeaderError, 401, 'ErrNoAuthHeader'],
  [MalformedAuthHeaderError, 400, 'ErrMalformedHeader'],
  [MalformedTokenError, 400, 'ErrMalformedToken'],
  [InvalidApiKeyError, 401, 'ErrUnauthorized'],
  [ApiKeyDisabledError, 401, 'Unauthorized'],
  [AgentInactiveError, 401, 'ErrAgentInactive'],
  [AgentIdentityError, 403, 'ErrAgentIdentity'],
  [AgentCorruptedError, 400, 'ErrAgentCorrupted'],
  [AgentNotFoundError, 404, 'AgentNotFound'],
  [AgentNotReplaceableError, 403, 'AgentNotReplaceable'],
  [AdminUnauthorizedError, 401, 'Unauthorized'],
  [InvalidUserAgentError, 400, 'InvalidUserAgent'],
  [UnsupportedAgentVersionError, 400, 'UnsupportedVersion'],
  [InvalidApiVersionFormatError, 400, 'ErrInvalidAPIVersionFormat'],
  [UnsupportedApiVersionError, 400, 'ErrUnsupportedAPIVersion'],
  [PayloadTooLargeError, 413, 'ErrPayloadSizeTooLarge'],
  [UnsupportedMediaTypeError, 415, 'UnsupportedMediaType'],
  [BadRequestError, 400, 'BadRequest'],
  [InputError, 400, 'BadRequest'],
  [PolicyNotFoundError, 400, 'ErrPolicyNotFound'],
  [UploadFieldRequiredError, 400, 'ErrFieldRequired'],
  [UploadFileSizeRequiredError, 400, 'ErrFileSizeRequired'],
  [UploadInvalidFileSizeError, 400, 'ErrInvalidFileSize'],
  [UploadFileSizeTooLargeError, 400, 'ErrFileSizeTooLarge'],
  [UploadFeatureDisabledError, 403, 'ErrFileFeatureDisable'],
  [UploadNotFoundError, 400, 'ErrAPIKeyNotFound'],
  [UploadActionForbiddenError, 403, 'ErrUploadActionForbidden'],
  [UploadConflictError, 409, 'ErrUploadConflict'],
  [UploadHashMismatchError, 400, 'ErrHashMismatch'],
  [UploadExpiredError, 400, 'ErrUploadExpired'],
  [UploadStoppedError, 400, 'ErrUploadStopped'],
  [UploadInvalidChunkNumError, 400, 'ErrInvalidChunkNum'],
  [UploadMissingChunksError, 400, 'ErrMissingChunks'],
  [UploadFailValidationError, 400, 'ErrFailValidation'],
  [UploadClosedError, 400, 'ErrStatusNoUploads'],
  [TransitHashRequiredError, 400, 'TransitHashRequired'],
  [AuditReasonConflictError, 409, 'ErrAuditReasonConflict'],
  [NotFoundError, 404, 'NotFound'],
  [ConflictError, 409, 'Conflict'],
  [PreconditionFailedError, 412, 'PreconditionFailed'],
  [FileForDeliveryNotFoundError, 404, 'ErrFileForDeliveryNotFound'],
  [ClientFileForbiddenError, 403, 'ErrClientFileForbidden'],
  [MultipartRangeNotSupportedError, 416, 'ErrRangeNotSatisfiable'],
  [RangeNotSatisfiableError, 416, 'ErrRangeNotSatisfiable'],
  [FileIncompleteError, 500, 'ErrFileIncomplete'],
  [ArtifactForbiddenError, 403, 'Forbidden'],
  [ArtifactThrottleError, 429, 'TooManyRequests'],
  [ArtifactMismatchError, 500, 'ErrorMismatchSha2'],
  [TlsRequiredError, 501, 'ErrTLSRequired'],
  [PgpKeyNotFoundError, 404, 'ErrPGPKeyNotFound'],
  [PgpKeyPermissionsError, 500, 'ErrPGPPermissions'],
  [RateLimitError, 429, 'RateLimit'],
  [MaxLimitError, 429, 'MaxLimit'],
  [BackpressureError, 429, 'TooManyRequests'],
  [DrainingError, 503, 'ServiceUnavailable'],
  [ServiceUnavailableError, 503, 'ServiceUnavailable'],
  [RouteNotFoundError, 404, 'NotFound'],
  [MethodNotAllowedError, 405, 'MethodNotAllowed'],
  // A path parameter that is not valid percent-encoding (`/agents/%ff/checkin`): the router's decoding fails.
  [URIError, 400, 'BadRequest'],
  [DocumentNotFoundError, 404, 'NotFound'],
  [DocumentConflictError, 409, 'Conflict'],
  [StoreUnavailableError, 503, 'ServiceUnavailable'],
  [StoreOverloadedError, 429, 'TooManyRequests'],
  // A configuration problem of the server, not of the caller: its message names the missing privilege.
  [StorePermissionError, 500, 'InternalServerError'],
  [ManagementForbiddenError, 403, 'Forbidden'],
  [CsrfTokenError, 403, 'Forbidden'],
  [UriNotAllowedError, 400, 'BadRequest'],
];

export interface ErrorBody {
  statusCode: number;
  error: string;
  message?: string;
}

export interface MappedError {
  status: number;
  body: ErrorBody;
  /** Seconds for a `Retry-After` header, when the failure is back-pressure. */
  retryAfterSeconds?: number;
  /** False for failures that are expected (client errors); true for bugs. */
  unexpected: boolean;
}

export type ErrorStyle = 'agent' | 'kibana';

/** Maps any thrown value to a status and a `{statusCode, error, message}` body. */
export function mapError(err: unknown, style: ErrorStyle = 'agent'): MappedError {
  for (const [ctor, status, name] of ERROR_TABLE) {
    if (err instanceof ctor) {
      const retry = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
      const error = style === 'kibana' ? (STATUS_CODES[status] ?? name) : name;
      const body: ErrorBody = { statusCode: status, error, message: err.message };
      if (!body.message) delete body.message;
      return { status, body, unexpected: false, ...(retry !== undefined ? { retryAfterSeconds: retry } : {}) };
    }
  }
  const error = style === 'kibana' ? 'Internal Server Error' : 'InternalServerError';
  return { status: 500, body: { statusCode: 500, error, message: 'internal server error' }, unexpected: true };
}

/** Failures raised by store backends. Services map them to HTTP statuses in one table. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A document that must exist does not. */
export class DocumentNotFoundError extends StoreError {
  constructor(
    readonly collection: string,
    readonly id: string,
  ) {
    super(`${collection} document not found: ${id}`);
  }
}

/** A create hit an existing id, or an optimistic update lost every retry. */
export class DocumentConflictError extends StoreError {
  constructor(
    readonly collection: string,
    readonly id: string,
  ) {
    super(`${collection} document conflict: ${id}`);
  }
}

/** The backend cannot be reached or refused the operation for a transient reason. */
export class StoreUnavailableError extends StoreError {
  readonly retryAfterSeconds = 5;
}

/** The backend refused work because it is overloaded (Elasticsearch 429); callers should retry later. */
export class StoreOverloadedError extends StoreError {
  readonly retryAfterSeconds = 5;
}

/** The store's file is damaged (failed its integrity check, or is not a database): restore it. */
export class StoreCorruptError extends StoreError {}

/** The store belongs to another install, or lost its data: the process must not bootstrap over it. */
export class StoreIdentityError extends StoreError {}

/** The store's credentials lack a privilege the operation needs; the message names it (never a value). */
export class StorePermissionError extends StoreError {}

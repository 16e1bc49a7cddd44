/**
 * fleetctl's exit codes (docs/fleetctl.md, "Exit codes"), and the errors that carry them. A command
 * throws one of these; runFleetctl prints its message to stderr and exits with its code.
 */
export const EXIT = {
  ok: 0,
  /** An error: the API answered one, the server was unreachable, a file is invalid. */
  error: 1,
  /** `plan` only: the server differs from the files. */
  changes: 2,
  /** The command line is wrong (unknown command or flag, missing argument). */
  usage: 3,
  /** Someone changed an object underneath (409, 412): re-run plan. */
  conflict: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error fleetctl reports in one message and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.error,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The command line is wrong. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = 'UsageError';
  }
}

/** The API answered an error: `{statusCode} {error}: {message}`; 409 and 412 are conflicts. */
export class ApiError extends CliError {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    readonly detail: string,
  ) {
    super(`${statusCode} ${error}: ${detail}`, statusCode === 409 || statusCode === 412 ? EXIT.conflict : EXIT.error);
    this.name = 'ApiError';
  }

  get isConflict(): boolean {
    return this.exitCode === EXIT.conflict;
  }
}

import type { OptionSpec, OptionValues } from './args';
import type { FleetClient } from './client';
import type { ExitCode } from './errors';
import type { Output } from './output';

/** What a command runs with. */
export interface CommandContext {
  out: Output;
  env: Record<string, string | undefined>;
  values: OptionValues;
  positionals: string[];
  /** The API client (built on first use: commands that need no server never ask for a token). */
  client(): FleetClient;
}

/** A command: its words (`agents list`), its flags and help, and what it does. */
export interface Command {
  words: string[];
  summary: string;
  /** The synopsis after `fleetctl`, e.g. `agents get ID`. */
  usage: string;
  /** Lines describing the command's own flags. */
  flags?: string[];
  options: OptionSpec;
  /** Positional arguments: at least `min`, at most `max`. */
  args: { min: number; max: number };
  run(ctx: CommandContext): Promise<ExitCode>;
}

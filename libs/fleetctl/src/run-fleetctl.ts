import { commandWords, GLOBAL_HELP, GLOBAL_OPTIONS, outputFormat, parseCommandArgs, type OptionSpec } from './args';
import { FleetClient } from './client';
import type { Command } from './command';
import { actionCommands } from './commands/actions';
import { agentCommands } from './commands/agents';
import { planCommands } from './commands/plan-apply';
import { policyCommands } from './commands/policies';
import { tokenCommands } from './commands/tokens';
import { connectionOf } from './connection';
import { CliError, EXIT, UsageError, type ExitCode } from './errors';
import { Output, type Streams } from './output';

export const COMMANDS: readonly Command[] = [...agentCommands, ...policyCommands, ...tokenCommands, ...actionCommands, ...planCommands];

const ALL_OPTIONS: OptionSpec = Object.assign({}, GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options)) as OptionSpec;

function overview(prefix: string[] = []): string {
  const shown = COMMANDS.filter((c) => prefix.every((w, i) => c.words[i] === w));
  const width = Math.max(...shown.map((c) => c.words.join(' ').length));
  return [
    'fleetctl: the Fleet Server management API from the command line, and policies as code.',
    '',
    'Usage: fleetctl COMMAND [flags]',
    '',
    'Commands:',
    ...shown.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    GLOBAL_HELP,
    '',
    'Exit codes: 0 ok, 1 error, 2 plan has changes, 3 usage error, 4 conflict (re-run plan).',
    'fleetctl COMMAND --help shows a command\'s flags. Docs: docs/fleetctl.md',
  ].join('\n');
}

function commandHelp(c: Command): string {
  return [`Usage: fleetctl ${c.usage}`, '', c.summary, ...(c.flags?.length ? ['', 'Flags:', ...c.flags.map((f) => `  ${f}`)] : []), '', GLOBAL_HELP].join('\n');
}

export interface RunOptions extends Streams {
  env?: Record<string, string | undefined>;
}

/**
 * Runs fleetctl with `argv` (without node and the script) and answers its exit code. Everything it
 * prints goes to `stdout` / `stderr`; the bin passes process's, tests their own.
 */
export async function runFleetctl(argv: readonly string[], opts: RunOptions): Promise<ExitCode> {
  const env = opts.env ?? {};
  let out = new Output(opts);
  try {
    const words = commandWords(argv, ALL_OPTIONS);
    const wantsHelp = argv.includes('--help') || argv.includes('-h');
    const command = COMMANDS.find((c) => c.words.every((w, i) => words[i] === w));
    if (!command) {
      const known = COMMANDS.some((c) => c.words[0] === words[0]);
      if (wantsHelp || words.length === 0) {
        out.out(overview(known ? [words[0]!] : []));
        return words.length === 0 && !wantsHelp ? EXIT.usage : EXIT.ok;
      }
      throw new UsageError(`unknown command: ${words.slice(0, 2).join(' ')} (fleetctl ${known ? `${words[0]!} ` : ''}--help lists the commands)`);
    }
    if (wantsHelp) {
      out.out(commandHelp(command));
      return EXIT.ok;
    }
    const { values, positionals } = parseCommandArgs(argv, command.options);
    const rest = positionals.slice(command.words.length);
    if (rest.length < command.args.min || rest.length > command.args.max) {
      throw new UsageError(`usage: fleetctl ${command.usage}`);
    }
    out = new Output(opts, outputFormat(values));
    let client: FleetClient | undefined;
    return await command.run({
      out,
      env,
      values,
      positionals: rest,
      client: () => (client ??= new FleetClient(connectionOf(values, env))),
    });
  } catch (err) {
    if (err instanceof CliError) {
      out.err(`fleetctl: ${err.message}`);
      return err.exitCode;
    }
    out.err(`fleetctl: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.error;
  }
}

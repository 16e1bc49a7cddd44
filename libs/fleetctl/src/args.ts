import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors';
import { OUTPUT_FORMATS, type OutputFormat } from './output';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** The flags every command takes. */
export const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  'token-file': { type: 'string' },
  ca: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpec;

export const GLOBAL_HELP = `Global flags:
  --url URL           the server (or FLEETCTL_URL), e.g. https://fleet.example:8220
  --token-file FILE   a file holding the management API key (or the key itself in FLEETCTL_TOKEN);
                      it must not be readable by group or others (chmod 600)
  --ca FILE           a PEM file of the CA that signed the server's certificate
  -o, --output FMT    table (default), json or yaml
  -h, --help          help for the command`;

/** The command words of argv (before any flag's value), whatever the flags say. */
export function commandWords(argv: readonly string[], allOptions: OptionSpec): string[] {
  const { positionals } = parseArgs({ args: [...argv], options: allOptions, allowPositionals: true, strict: false });
  return positionals;
}

/** argv parsed strictly against the global flags and a command's own; a UsageError if it does not fit. */
export function parseCommandArgs(argv: readonly string[], options: OptionSpec): { values: OptionValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return { values: values, positionals };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function outputFormat(values: OptionValues): OutputFormat {
  const format = values.output ?? 'table';
  if (typeof format !== 'string' || !(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`-o must be one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  return format as OutputFormat;
}

export const stringOption = (values: OptionValues, name: string): string | undefined => {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
};

/** A positive integer flag (bounded), or its default. */
export function intOption(values: OptionValues, name: string, fallback: number, max: number): number {
  const raw = stringOption(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be an integer from 1 to ${max}`);
  return n;
}

/** A flag's values, comma-separated or repeated (`--tag a,b --tag c`). */
export function listOption(values: OptionValues, name: string): string[] {
  const raw = values[name];
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
  return items.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

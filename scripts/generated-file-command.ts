/**
 * The command line shared by the scripts that keep a generated file current (the configuration
 * reference, the OpenAPI document): print it, `--write FILE`, or `--check FILE` (exit 1 when the
 * committed file differs, naming the command that regenerates it).
 */
export interface GeneratedFile {
  /** The script's file name, for the usage line. */
  script: string;
  /** What the file holds, in messages ("OpenAPI document"). */
  what: string;
  /** The npm command that regenerates it. */
  regenerate: string;
  /** The generated text, as printed without arguments. */
  render(): string;
  /** Writes it into `file`; answers the line to print. */
  write(file: string): string;
  check(file: string): { ok: boolean; reason?: string };
}

export function runGeneratedFileCommand(generated: GeneratedFile, argv: string[]): number {
  const [flag, file] = argv;
  if (flag === undefined) {
    process.stdout.write(generated.render());
    return 0;
  }
  if ((flag !== '--check' && flag !== '--write') || !file || argv.length > 2) {
    process.stderr.write(`usage: ${generated.script} [--check FILE | --write FILE]\n`);
    return 2;
  }
  if (flag === '--write') {
    process.stdout.write(`${generated.write(file)}\n`);
    return 0;
  }
  const result = generated.check(file);
  if (result.ok) {
    process.stdout.write(`${file}: ${generated.what} is current\n`);
    return 0;
  }
  process.stderr.write(`${result.reason ?? `${generated.what} differs`}\nRun \`${generated.regenerate}\` to regenerate it.\n`);
  return 1;
}

/** Runs the command when the script is the process's entry point; an error is a message and exit 1. */
export function runAsScript(module: NodeJS.Module, generated: GeneratedFile): void {
  if (require.main !== module) return;
  try {
    process.exitCode = runGeneratedFileCommand(generated, process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

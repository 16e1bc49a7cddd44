import { runFleetctl } from './run-fleetctl';

// The bin: argv, the environment and the process's streams; the exit code once output is flushed.
runFleetctl(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fleetctl: ${String(err)}\n`);
    process.exitCode = 1;
  },
);

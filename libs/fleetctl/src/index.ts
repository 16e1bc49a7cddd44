export { runFleetctl, COMMANDS, type RunOptions } from './run-fleetctl';
export { EXIT, type ExitCode } from './errors';
export { FleetClient } from './client';

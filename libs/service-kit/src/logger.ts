import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Paths that may carry secrets; pino replaces their values before anything is written. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  '*.api_key',
  '*.access_api_key',
  '*.replace_token',
  '*.enrollment_token',
  '*.token',
  '*.secret',
  '*.password',
  'api_key',
  'access_api_key',
  'replace_token',
  'token',
  'secret',
  'password',
];

export interface LoggerConfig {
  level: string;
  name: string;
}

/** JSON logs on stdout (or the given destination), secrets redacted. */
export function createLogger(config: LoggerConfig, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    base: { service: config.name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}

import { startTracing } from '@fleet/telemetry/preload';
import { join } from 'node:path';

// Preloaded before main (`node --require ./dist/instrumentation.js dist/main.js`), so the modules
// the service loads afterwards are instrumented. Does nothing unless tracing is enabled.
startTracing({ serviceName: 'enrollment', packageJsonPath: join(__dirname, '..', 'package.json') });

import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * The workspace's layers: each package and the @fleet packages its sources may import. Libraries
 * import no sibling they do not need; `@fleet/runtime` is the composition root below the services
 * (it opens the store, the bus and the job queue), and no service imports another except
 * all-in-one, which composes them. A test checks that every package.json agrees.
 */
export const packageLayers = {
  'libs/telemetry': [],
  'libs/console': [],
  'libs/store': ['management-api'],
  'libs/agent-protocol': [],
  'libs/management-api': ['agent-protocol'],
  'libs/fleetctl': ['management-api'],
  'libs/notifications': ['telemetry'],
  'libs/background-jobs': ['notifications', 'store', 'telemetry'],
  'libs/service-kit': ['store', 'telemetry'],
  'libs/runtime': ['background-jobs', 'notifications', 'service-kit', 'store', 'telemetry'],
  'services/enrollment': ['agent-protocol', 'background-jobs', 'notifications', 'runtime', 'service-kit', 'store', 'telemetry'],
  'services/checkin-gateway': ['agent-protocol', 'background-jobs', 'notifications', 'runtime', 'service-kit', 'store', 'telemetry'],
  'services/policy-dispatcher': ['agent-protocol', 'background-jobs', 'console', 'management-api', 'notifications', 'runtime', 'service-kit', 'store', 'telemetry'],
  'services/all-in-one': ['agent-protocol', 'background-jobs', 'checkin-gateway', 'enrollment', 'notifications', 'policy-dispatcher', 'runtime', 'service-kit', 'store', 'telemetry'],
};

const ENTRY_POINTS_ONLY = {
  group: ['**/libs/*/src/**', '**/services/*/src/**', '@fleet/*/src/**', '@fleet/*/dist/**'],
  message: 'Import workspace packages by their entry point (@fleet/<name>).',
};
const ALL_PACKAGES = Object.keys(packageLayers).map((dir) => dir.split('/')[1]);

/** One block per package: its sources may import only the @fleet packages of its layer. */
export function layerRules() {
  return Object.entries(packageLayers).map(([dir, allowed]) => {
    const self = dir.split('/')[1];
    const forbidden = ALL_PACKAGES.filter((p) => p !== self && !allowed.includes(p)).map((p) => `@fleet/${p}`);
    return {
      files: [`${dir}/src/**/*.ts`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            paths: forbidden.map((name) => ({ name, message: `${dir} may import only ${allowed.length ? allowed.map((p) => '@fleet/' + p).join(', ') : 'no @fleet package'} (see packageLayers in eslint.config.mjs).` })),
            patterns: [ENTRY_POINTS_ONLY],
          },
        ],
      },
    };
  });
}

export default defineConfig(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'loadtest/k6/**', 'data/**', '.tmp/**'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.test.json', './libs/*/tsconfig.json', './services/*/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A forgotten promise in a long-poll server leaks a socket or hides a failed write.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      // Libraries are used through their package entry points only.
      'no-restricted-imports': ['error', { patterns: [ENTRY_POINTS_ONLY] }],
    },
  },
  ...layerRules(),
  {
    files: ['**/test/**/*.ts', 'scripts/**/*.ts', 'loadtest/**/*.ts', 'fuzz/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', 'libs/*/bin/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { module: 'writable', require: 'readonly', __dirname: 'readonly', process: 'readonly' } },
  },
  {
    // A package's bin is a CommonJS script that loads its compiled entry point.
    files: ['libs/*/bin/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);

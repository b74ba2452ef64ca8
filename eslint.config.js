// ESLint 9 flat config: the recommended JS and typescript-eslint rules, unused
// code and type-only imports, and the layer rule of src/ (a folder imports
// only the folders below it; see docs/building.md#layout).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** src/ folders from the bottom up, and the folders each may import. */
const LAYERS = {
  core: [],
  io: ['core'],
  encoders: ['core', 'io'],
  torch: ['core', 'io', 'encoders'],
  sim: ['core'],
  jobs: ['core', 'io', 'encoders', 'torch', 'sim'],
  cli: ['core', 'io', 'encoders', 'torch', 'sim', 'jobs'],
  demo: ['core', 'io', 'encoders', 'torch', 'sim', 'jobs', 'cli'],
};

const layerRules = Object.entries(LAYERS).map(([layer, allowed]) => {
  const banned = Object.keys(LAYERS).filter((l) => l !== layer && !allowed.includes(l));
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          ...(banned.length ? [{
            group: banned.map((l) => `../${l}/*`),
            message: `src/${layer} ${allowed.length ? `may import only ${allowed.map((l) => `src/${l}`).join(', ')}` : 'imports nothing else in src'} (imports go down the layers: core, io, encoders, torch, sim, jobs, cli, demo).`,
          }] : []),
          { group: ['../index.js', '../../index.js'], message: 'src/index.ts is the package entry; import the module that defines the name.' },
          { group: ['**/test/*', '**/bench/*'], message: 'src/ does not import tests or benchmarks.' },
        ],
      }],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'build-*/', 'node_modules/', 'coverage/', 'pack/', 'native/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', performance: 'readonly',
        setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly',
        setImmediate: 'readonly', queueMicrotask: 'readonly', structuredClone: 'readonly', TextEncoder: 'readonly',
        TextDecoder: 'readonly', AbortController: 'readonly', globalThis: 'readonly', NodeJS: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
    },
  },
  ...layerRules,
  {
    // Folders are made by ensureDir (src/io/atomic.ts) alone: a recursive mkdir spins forever
    // where a level cannot be created (under /proc).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...['callee.name', 'callee.property.name'].map((c) => ({
        selector: `CallExpression[${c}=/^mkdir(Sync)?$/] Property[key.name='recursive']`,
        message: 'Create folders with ensureDir (src/io/atomic.ts): a recursive mkdir spins forever where a level cannot be created (/proc).',
      }))],
    },
  },
  {
    // Tests pass wrong types on purpose (bad-input cases) and match terminal escapes.
    files: ['test/**/*.ts', 'scripts/**/*.mjs'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-control-regex': 'off' },
  },
  {
    // The viewer's page (plain browser modules, served by src/jobs/view.ts).
    files: ['web/**/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly', document: 'readonly', location: 'readonly', history: 'readonly', localStorage: 'readonly', fetch: 'readonly',
        Image: 'readonly', ResizeObserver: 'readonly', requestAnimationFrame: 'readonly', cancelAnimationFrame: 'readonly',
        URLSearchParams: 'readonly', Intl: 'readonly', performance: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', console: 'readonly',
      },
    },
  },
  {
    files: ['bench/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['../test/helpers/*', '../test/unit/*', '../test/torch/*', '../test/cli/*'], message: 'bench/ imports only from src/, test/reference and test/fixtures.' }],
      }],
    },
  },
);

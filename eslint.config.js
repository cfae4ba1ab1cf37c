// ESLint (flat config). Two project-specific rules (tools/eslint): vpmu/no-ambient-nondeterminism
// on libs/ (the simulated world must not read the wall clock, unseeded randomness or timers), and
// vpmu/model-import-boundary on the pure model libs (they depend inward only: no frameworks, I/O,
// file formats, adapter libs or apps).
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const noAmbientNondeterminism = require('./tools/eslint/no-ambient-nondeterminism');
const modelImportBoundary = require('./tools/eslint/model-import-boundary');

/** The pure model libs (docs/architecture.md "Layers"). */
const MODEL_LIBS = ['sim', 'world-spec', 'pmu', 'perf', 'kvm', 'guest', 'migration', 'host', 'engine'];
const modelFiles = MODEL_LIBS.map((lib) => `libs/${lib}/**/*.ts`);
const vpmuPlugin = { rules: { 'no-ambient-nondeterminism': noAmbientNondeterminism, 'model-import-boundary': modelImportBoundary } };

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'libs/proto/src/generated/**', 'coverage/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['libs/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    plugins: { vpmu: vpmuPlugin },
    rules: { 'vpmu/no-ambient-nondeterminism': 'error' },
  },
  {
    files: modelFiles,
    plugins: { vpmu: vpmuPlugin },
    rules: { 'vpmu/model-import-boundary': 'error' },
  },
  {
    // Specs (and the fixtures under src/testing/ that only specs import) may build their test
    // worlds with the scenario parser and read fixture files; the code under test may not.
    files: [...modelFiles.map((glob) => glob.replace(/\*\.ts$/, '*.spec.ts')), ...MODEL_LIBS.map((lib) => `libs/${lib}/src/testing/**/*.ts`)],
    rules: { 'vpmu/model-import-boundary': ['error', { allow: ['adapter-lib', 'node-builtin'] }] },
  },
);

// ESLint (flat config). The project-specific rule is vpmu/no-ambient-nondeterminism on libs/:
// the simulated world must not read the wall clock, unseeded randomness or timers.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const noAmbientNondeterminism = require('./tools/eslint/no-ambient-nondeterminism');

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
    plugins: { vpmu: { rules: { 'no-ambient-nondeterminism': noAmbientNondeterminism } } },
    rules: { 'vpmu/no-ambient-nondeterminism': 'error' },
  },
);

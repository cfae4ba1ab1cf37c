// Jest runs TypeScript through ts-jest in transpile-only mode (isolatedModules: fast, no type
// check per test file; `npm run build` type-checks the whole tree before the tests run).
const { compilerOptions } = require('./tsconfig.json');

const moduleNameMapper = {};
for (const [alias, [target]] of Object.entries(compilerOptions.paths)) {
  moduleNameMapper[`^${alias}$`] = `<rootDir>/${target}`;
}

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { isolatedModules: true, tsconfig: { ...compilerOptions, sourceMap: true, isolatedModules: true } }],
  },
  moduleNameMapper,
  testTimeout: 60000,
  // Two workers even on a 2-core machine (Jest's default there is one, in band): the cluster
  // tier spends most of its wall time waiting on processes and the broker, not on the CPU, so a
  // second worker overlaps that wait with the CPU-bound suites. The tests are written to pass on
  // a busy machine, which is what two workers make of it.
  maxWorkers: 2,
};

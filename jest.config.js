/** Jest runs the TypeScript sources directly; p-retry (and its one dependency) and p-map are ESM-only, so ts-jest
 *  turns them into CommonJS for Jest's module system (Node itself loads them with require(esm)). */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'es2022' } }],
  },
  // Sources import siblings as './x.js' (what Node resolves after tsc); Jest reads the .ts files.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transformIgnorePatterns: ['/node_modules/(?!(p-retry|p-map|is-network-error)/)'],
  testTimeout: 60_000,
  maxWorkers: 2,
};

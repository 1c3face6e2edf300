// NestJS 12 packages ship as ES modules. Node 20 loads them from CommonJS through
// require(esm), but Jest's own module loader cannot, so the ESM packages in
// node_modules are compiled to CommonJS by swc while our TypeScript goes through ts-jest.
const esmPackages = ['@nestjs', 'uid', 'load-esm', 'file-type', 'strtok3', 'token-types', 'uint8array-extras', '@tokenizer', 'content-disposition', '@apidevtools', 'cookie'];

// Far from UTC, so nothing may lean on the process's zone (SQL sessions run in UTC; rules are read as SQL reads them).
process.env.TZ = 'America/New_York';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  roots: ['<rootDir>/src'],
  testRegex: '\\.spec\\.ts$',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: false }],
    '^.+\\.m?js$': ['@swc/jest', { jsc: { target: 'es2023' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
};

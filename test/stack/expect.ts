/**
 * chai 6 ships no type declarations and @types/chai is not a dependency, so `import { expect } from 'chai'`
 * does not type-check under `strict`. Load it untyped here; once @types/chai is added, the tests can import
 * from 'chai' directly.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const expect: (value: unknown, message?: string) => any = require('chai').expect;

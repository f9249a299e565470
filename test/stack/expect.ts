/** The stack tests' `expect`: chai's, typed by @types/chai like every other test's. */
export { expect } from 'chai';

import { createRequire } from 'module';

/** This library's version (from its package.json, one level above src/ and dist/). */
export const LIBRARY_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

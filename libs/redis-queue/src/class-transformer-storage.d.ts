// class-transformer's decorator storage (internal, read by class-validator.integration.ts after a check that
// it is the live one). The package ships no declarations for this path.
declare module 'class-transformer/cjs/storage.js' {
  export const defaultMetadataStorage: unknown;
}

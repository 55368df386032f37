import type { CodegenConfig } from '@graphql-codegen/cli';

// Operations in src/lib/graphql/*.graphql are checked against relay's schema.graphql and typed:
// a schema change that breaks one of them fails `npm run build`. (RELAY_SCHEMA and
// RELAY_CODEGEN_OUT let the test suite try a changed schema without touching the build.)
const out = process.env.RELAY_CODEGEN_OUT ?? 'src/lib/graphql/generated.ts';
const config: CodegenConfig = {
  schema: process.env.RELAY_SCHEMA ?? '../../schema.graphql',
  documents: 'src/lib/graphql/*.graphql',
  generates: {
    [out]: {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        strictScalars: true,
        scalars: { DateTime: 'string', Upload: 'File', JSON: 'Record<string, unknown>' },
        enumsAsTypes: true,
        useTypeImports: true,
        avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
        nonOptionalTypename: false,
        skipTypename: true
      }
    }
  },
  noSilentErrors: true,
  errorsOnly: true
};
export default config;

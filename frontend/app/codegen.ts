import type { CodegenConfig } from '@graphql-codegen/cli';

// Operations in src/lib/graphql/*.graphql are checked against relay's schema.graphql and typed:
// a schema change that breaks one of them fails `npm run build`.
const config: CodegenConfig = {
  schema: process.env.RELAY_SCHEMA ?? '../../schema.graphql',
  documents: 'src/lib/graphql/*.graphql',
  generates: {
    'src/lib/graphql/generated.ts': {
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
  errorsOnly: false,
  silent: true
};
export default config;

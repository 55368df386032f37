import { defineConfig } from 'vite'

// Served by relay under /graphiql/: every asset is local, nothing comes from a CDN. Built into
// the Python package (src/relay/web/graphiql) so an installed relay carries it.
export default defineConfig({
  base: '/graphiql/',
  build: { outDir: '../../src/relay/web/graphiql', emptyOutDir: true, chunkSizeWarningLimit: 4096 },
})

import { defineConfig } from 'vite'

// Served by relay under /graphiql/: every asset is local, nothing comes from a CDN.
export default defineConfig({
  base: '/graphiql/',
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 4096 },
})

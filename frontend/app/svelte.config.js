import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
export default {
  preprocess: vitePreprocess(),
  kit: {
    // A single-page app: relay serves it at / and 200.html for every other path. It is built into
    // the Python package (src/relay/web/app) so an installed relay carries it.
    adapter: adapter({
      pages: '../../src/relay/web/app',
      assets: '../../src/relay/web/app',
      fallback: '200.html',
      strict: true
    }),
    // relay serves /graphiql itself; nothing here may shadow its API routes.
    paths: { relative: false }
  }
};

import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
export default {
  preprocess: vitePreprocess(),
  kit: {
    // A single-page app: relay serves build/ at / and 200.html for every other path.
    adapter: adapter({ pages: 'build', assets: 'build', fallback: '200.html', strict: true }),
    // relay serves /graphiql itself; nothing here may shadow its API routes.
    paths: { relative: false }
  }
};

import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

// `npm run dev` serves the app with hot reload and forwards API calls to a running relay
// (RELAY_URL, default http://127.0.0.1:8000).
const relay = process.env.RELAY_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [sveltekit()],
  server: {
    proxy: {
      '/graphql': { target: relay, ws: true },
      '/oauth': relay,
      '/audio': relay,
      '/graphiql': relay
    }
  }
});

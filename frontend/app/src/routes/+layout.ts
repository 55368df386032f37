// A single-page app: no server rendering; relay serves build/200.html for every route.
export const ssr = false;
export const prerender = false;

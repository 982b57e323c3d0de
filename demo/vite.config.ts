// The browser demo: `npm run demo` serves it, `npm run build` writes a static site to dist/demo/.
// In development the default model and data come from ../shared (served under /shared/, never copied
// into the project); the built site fetches them from their public addresses instead.
// The built site is an installable web app (vite-plugin-pwa): a web app manifest, and a Workbox service
// worker that precaches every file of the build (hashed names, so a new build replaces the old copies),
// so that a reload without a network opens the whole page. Models and data are not part of it: the page
// stores those itself (stored-files.ts). Development serves no service worker.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

const demoDir = dirname(fileURLToPath(import.meta.url));
const projectDir = resolve(demoDir, '..');
const sharedDir = resolve(projectDir, '../shared');
const SHARED_SUBDIRS = ['models', 'data'];

/** GET /shared/<models|data>/... -> ../shared/..., read-only, nothing else of ../shared is exposed. */
function serveShared(): Plugin {
  return {
    name: 'xtf-demo-shared',
    configureServer(server) {
      server.middlewares.use('/shared', (req, res, next) => {
        const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
        const file = normalize(join(sharedDir, path));
        const rel = relative(sharedDir, file);
        if (rel.startsWith('..') || !SHARED_SUBDIRS.includes(rel.split(/[\\/]/)[0])) return next();
        // A clear 404 (not the SPA's index.html) when ../shared lacks the file: the page then falls back
        // to the public addresses.
        if (!existsSync(file) || !statSync(file).isFile()) {
          res.writeHead(404, { 'content-type': 'text/plain' });
          return void res.end(`not in ../shared: ${path}`);
        }
        const type = extname(file) === '.jsonl' || extname(file) === '.json' ? 'application/json' : 'application/octet-stream';
        res.writeHead(200, { 'content-type': type, 'content-length': statSync(file).size, 'cache-control': 'no-cache' });
        createReadStream(file).pipe(res);
      });
    },
  };
}

/** The manifest and the precaching service worker (registered by offline.ts). */
function offlineApp() {
  return VitePWA({
    registerType: 'autoUpdate',
    injectRegister: false,
    // The icons and the manifest are in the glob below already (listing them twice precaches them twice).
    includeManifestIcons: false,
    manifest: {
      name: 'XTF fine-tuning, in your browser',
      short_name: 'XTF demo',
      description: 'Score label tokens with XTF and fine-tune a LoRA adapter of a small LLM on WebGPU, offline once its model and data are stored.',
      start_url: './',
      scope: './',
      display: 'standalone',
      background_color: '#f8fafc',
      theme_color: '#2563eb',
      icons: [
        { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
        { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
        { src: 'icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
      ],
    },
    workbox: {
      // Every file the build writes (the engine's worker bundle is the largest, ~0.5 MiB).
      globPatterns: ['**/*'],
      globIgnores: ['manifest.webmanifest'],
      maximumFileSizeToCacheInBytes: 32 * 1024 * 1024,
      navigateFallback: 'index.html',
      cleanupOutdatedCaches: true,
      clientsClaim: true,
      skipWaiting: true,
    },
  });
}

export default defineConfig({
  root: demoDir,
  base: './',
  // Only the app icons: the models and data of ../shared are never copied into the site.
  publicDir: resolve(demoDir, 'public'),
  plugins: [serveShared(), offlineApp()],
  server: { host: '127.0.0.1', fs: { allow: [projectDir, ...SHARED_SUBDIRS.map((d) => join(sharedDir, d))] } },
  worker: { format: 'es' },
  build: { outDir: resolve(projectDir, 'dist', 'demo'), emptyOutDir: true, target: 'es2022' },
});

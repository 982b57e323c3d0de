// The browser demo: `npm run demo` serves it, `npm run build` writes a static site to dist/demo/.
// In development the default model and data come from ../shared (served under /shared/, never copied
// into the project); the built site fetches them from their public addresses instead.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

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

export default defineConfig({
  root: demoDir,
  base: './',
  publicDir: false,
  plugins: [serveShared()],
  server: { host: '127.0.0.1', fs: { allow: [projectDir, ...SHARED_SUBDIRS.map((d) => join(sharedDir, d))] } },
  worker: { format: 'es' },
  build: { outDir: resolve(projectDir, 'dist', 'demo'), emptyOutDir: true, target: 'es2022' },
});

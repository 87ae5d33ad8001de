// npm run build:edge: functions/edge.ts as one ES module for web-standard runtimes (workerd / Cloudflare Workers,
// Deno, Bun) → dist/edge/edge.js. Browser/worker conditions pick the AWS SDK's fetch-based builds.
import path from 'node:path';
import { build, type Plugin } from 'esbuild';

/**
 * config/load.ts reads config files with node:fs/node:path, which the edge never calls (it parses its JSON binding):
 * those two modules become stubs that throw if called, instead of failing the bundle or the runtime's module load.
 */
const nodeFileStubs: Plugin = {
  name: 'node-file-stubs',
  setup(b) {
    b.onResolve({ filter: /^node:(fs|path)$/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => ({
      contents: `const unavailable = () => { throw new Error('${args.path} is not available at the edge'); };
export const existsSync = unavailable, readFileSync = unavailable, resolve = unavailable;`,
      loader: 'js',
    }));
  },
};

/**
 * The SDK's browser build parses S3's XML answers with DOMParser, which workerd, Deno Deploy and Node lack: use its
 * other parser (fast-xml-parser, plain JS) everywhere.
 */
const xmlParserWithoutDom: Plugin = {
  name: 'xml-parser-without-dom',
  setup(b) {
    b.onResolve({ filter: /^\.\/xml-parser(\.js)?$/ }, (args) =>
      args.importer.includes(`${path.sep}xml-builder${path.sep}`)
        ? { path: path.join(args.resolveDir, 'xml-parser.js') }
        : undefined,
    );
  },
};

/**
 * zod's namespace re-exports every error-message locale (`z.locales`, some 45 languages, a fifth of the bundle),
 * and a namespace import keeps them all. The relay's messages are English (zod's default, `en`): the locale index
 * becomes `en` alone. Smaller bundle, less to parse at every cold start.
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`)
        ? { path: path.join(args.resolveDir, '..', 'locales', 'index.js'), namespace: 'zod-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};`,
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};

const result = await build({
  entryPoints: ['functions/edge.ts'],
  outfile: 'dist/edge/edge.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  conditions: ['workerd', 'worker', 'browser', 'import', 'default'],
  mainFields: ['browser', 'module', 'main'],
  minify: true,
  sourcemap: true,
  metafile: true,
  plugins: [nodeFileStubs, xmlParserWithoutDom, zodEnglishOnly],
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
console.log(`dist/edge/edge.js: ${(bytes / 1024).toFixed(0)} KiB`);

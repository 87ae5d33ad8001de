// Part of `npm run build`, after tsc: the `vfs-relay` command as one CommonJS file, dist/cli/vfs-relay.cjs (the
// package's bin). `status`, `journal` and `--version` then start without the ES module loader and without
// resolving and reading some twenty modules one by one (docs/benchmarks.md, "CLI start"). Each command's own
// modules stay where tsc put them and load when the command runs: the dynamic imports of dist/cli/main.js
// (`./commands/serve.js`, …) are left as they are, and resolve from dist/cli/ as before.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `import('./commands/serve.js')` and the like: loaded when the command runs, not bundled. */
const lazyImports: Plugin = {
  name: 'lazy-imports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined,
    );
  },
};

await build({
  entryPoints: [path.join(root, 'dist/cli/main.js')],
  outfile: path.join(root, 'dist/cli/vfs-relay.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  plugins: [lazyImports],
  // version.ts finds package.json from its own URL: in the bundle, the bundle's.
  define: { 'import.meta.url': '__vfsRelayModuleUrl' },
  banner: { js: "const __vfsRelayModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: true,
  logLevel: 'warning',
});

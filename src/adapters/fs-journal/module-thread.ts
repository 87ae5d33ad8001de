import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { JournalStorageError } from '../../core/errors.js';

/** Compiled thread modules of this process, by source file (compiled once: every journal opened starts one). */
const compiled = new Map<string, URL>();

/**
 * Starts a worker thread running the module `name` beside `base` (pass `import.meta.url`): `name.js` in the built
 * package, `name.mjs` in a bundle that emits it beside itself (the test children), or `name.ts` when running
 * from source (tsx, vitest). Node 20 cannot load TypeScript in a worker (a loader registered with `--import` does
 * not reach it), so from source the module is compiled with esbuild — a development dependency, only loaded then —
 * and started from a data: URL.
 */
export function startModuleThread(name: string, base: string): Worker {
  for (const extension of ['.js', '.mjs']) {
    const built = new URL(`./${name}${extension}`, base);
    if (built.protocol === 'file:' && existsSync(built)) return new Worker(built);
  }
  const source = new URL(`./${name}.ts`, base);
  if (source.protocol !== 'file:' || !existsSync(source)) {
    throw new JournalStorageError(`the thread module ${name} is not beside ${base} (as .js, .mjs or .ts)`);
  }
  return new Worker(compileFromSource(fileURLToPath(source)));
}

function compileFromSource(file: string): URL {
  let url = compiled.get(file);
  if (!url) {
    const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
    const { outputFiles } = esbuild.buildSync({
      entryPoints: [file],
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      write: false,
      sourcemap: 'inline',
    });
    url = new URL(`data:text/javascript;base64,${Buffer.from(outputFiles[0]!.contents).toString('base64')}`);
    compiled.set(file, url);
  }
  return url;
}

// Preload (`node --import`) that records which modules a process loads into the file $LOADED_LOG: every URL the
// ES module loader resolves (through a resolve hook, which runs in its own thread), and at exit the CommonJS
// modules in require's cache and Node's own internal modules as `node-internal:<name>` (fetch shows up as
// `node-internal:internal/deps/undici/undici`). Used to prove what an import or a command does not load.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

register(new URL('./record-loads-hooks.mjs', import.meta.url));
process.on('exit', () => {
  const internal = process.moduleLoadList
    .filter((name) => name.startsWith('NativeModule '))
    .map((name) => `node-internal:${name.slice('NativeModule '.length)}`);
  const cjs = Object.keys(createRequire(import.meta.url).cache);
  appendFileSync(process.env.LOADED_LOG, `${[...cjs, ...internal].join('\n')}\n`);
});

// Preload (`node --import`) that records which modules a process loads into the file $LOADED_LOG: every URL the
// ES module loader resolves (through a resolve hook, which runs in its own thread), and at exit the CommonJS
// modules in require's cache. Used to prove what an import or a command does not load (the AWS SDK).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

register(new URL('./record-loads-hooks.mjs', import.meta.url));
process.on('exit', () => {
  appendFileSync(process.env.LOADED_LOG, `${Object.keys(createRequire(import.meta.url).cache).join('\n')}\n`);
});

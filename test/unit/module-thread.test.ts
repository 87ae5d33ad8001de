import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startModuleThread } from '../../src/adapters/fs-journal/module-thread.js';
import { tempDir } from '../support/tmp.js';

/** The first message a thread posts. */
async function firstMessage(thread: ReturnType<typeof startModuleThread>): Promise<unknown> {
  try {
    return await new Promise((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
    });
  } finally {
    await thread.terminate();
  }
}

describe('startModuleThread', () => {
  it('starts the built module (.js) beside the caller, as in the package', async () => {
    const tmp = await tempDir();
    try {
      await writeFile(join(tmp.dir, 'package.json'), '{"type":"module"}');
      await writeFile(
        join(tmp.dir, 'echo-thread.js'),
        "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage('built');\n",
      );
      // A TypeScript source beside it too: the built module wins.
      await writeFile(join(tmp.dir, 'echo-thread.ts'), "throw new Error('the source was started');\n");
      const caller = pathToFileURL(join(tmp.dir, 'caller.js')).href;
      expect(await firstMessage(startModuleThread('echo-thread', caller))).toBe('built');
    } finally {
      await tmp.remove();
    }
  });

  it('compiles and starts the TypeScript source when nothing is built (tsx, vitest)', async () => {
    const tmp = await tempDir();
    try {
      await writeFile(join(tmp.dir, 'package.json'), '{"type":"module"}');
      await writeFile(
        join(tmp.dir, 'echo-thread.ts'),
        "import { parentPort } from 'node:worker_threads';\nconst answer: string = 'source';\nparentPort!.postMessage(answer);\n",
      );
      const caller = pathToFileURL(join(tmp.dir, 'caller.ts')).href;
      expect(await firstMessage(startModuleThread('echo-thread', caller))).toBe('source');
    } finally {
      await tmp.remove();
    }
  });

  it('says which module it could not find', () => {
    expect(() => startModuleThread('no-such-thread', import.meta.url)).toThrow(/no-such-thread is not beside/);
  });
});

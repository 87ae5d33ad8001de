import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's version from its package.json: the nearest one named vfs-relay above this module (two levels up
 * from src/cli/ and dist/cli/; further from a bundle of the CLI).
 */
export function packageVersion(from: string = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vfs-relay' && pkg.version) return pkg.version;
    } catch {
      // no package.json here, or not ours: look further up
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

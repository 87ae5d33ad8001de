// The file system the benchmarks' folders (journals, Apache's document root, the agent's watched folder) are on:
// two mount choices make creating and deleting files dearer, for the relay and Apache alike, and move the figures
// from run to run (docs/install.md "The journal's disk", docs/benchmarks.md). Linux only; elsewhere nothing.
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename } from 'node:path';

interface Mount {
  device: string;
  point: string;
  type: string;
  options: string[];
}

/** /proc/mounts fields escape space, tab, newline and backslash as octal. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** The mount holding `path`: the longest mount point that is `path` or one of its ancestors. */
function mountOf(path: string, mounts: Mount[]): Mount | undefined {
  let best: Mount | undefined;
  for (const mount of mounts) {
    const inside = mount.point === '/' || path === mount.point || path.startsWith(`${mount.point}/`);
    if (inside && (!best || mount.point.length >= best.point.length)) best = mount;
  }
  return best;
}

/** jbd2, ext4's journal, lists a journaled device as /proc/fs/jbd2/<device name>-8. */
function hasJournal(device: string): boolean {
  let name = basename(device);
  try {
    name = basename(realpathSync(device)); // /dev/mapper/x → dm-N
  } catch {
    // not a path we can resolve: its own name
  }
  if (!existsSync('/proc/fs/jbd2')) return false;
  return readdirSync('/proc/fs/jbd2').some((entry) => entry.startsWith(`${name}-`));
}

/**
 * One line on the benchmarks' scratch file system, e.g. `scratch folders: ext4 at / (/dev/vda): no file-system
 * journal, online discard — …`; undefined where /proc/mounts cannot be read.
 */
function scratchDiskLine(dir = tmpdir()): string | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return undefined;
  }
  const mounts = text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [device = '', point = '', type = '', options = ''] = line.split(' ');
      return { device, point: unescapeMount(point), type, options: options.split(',') };
    });
  let path = dir;
  try {
    path = realpathSync(dir);
  } catch {
    // measured where it would be
  }
  const mount = mountOf(path, mounts);
  if (!mount) return undefined;
  const notes: string[] = [];
  if (mount.type === 'ext4' && !hasJournal(mount.device)) notes.push('no file-system journal');
  if (mount.options.includes('discard')) notes.push('online discard');
  const where = `scratch folders: ${mount.type} at ${mount.point} (${mount.device}) for ${path}`;
  if (mount.type === 'tmpfs')
    return `${where}: memory, where fsync does nothing — the relay's durable writes cost less than on a disk`;
  if (notes.length === 0) return where;
  return (
    `${where}: ${notes.join(', ')} — creating and deleting files costs more there, and varies from run to run ` +
    '(docs/install.md, "The journal\'s disk"); TMPDIR=<a folder elsewhere> moves them'
  );
}

/** scratchDiskLine as a line to print (with its newline), or nothing. */
export function scratchDisk(): string {
  const line = scratchDiskLine();
  return line ? `${line}\n` : '';
}

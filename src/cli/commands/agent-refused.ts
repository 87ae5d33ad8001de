import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { vfsBase } from '../../agent/paths.js';
import { type RefusedChange, readRefused, requeueRefused } from '../../agent/refused-changes.js';
import { DOCUMENTS_STATE, defaultStateDir, legacyOutboxDir } from '../../agent/state-dir.js';
import { CliError } from '../errors.js';
import { print } from '../format.js';

export interface RefusedCommandOptions {
  /** The agent's state folder; or --watch (and --vfs, for an older agent's outbox) as given to the agent. */
  state?: string;
  /** Older name of --state. */
  outbox?: string;
  watch?: string;
  vfs?: string;
  json?: boolean;
  /** requeue: only these outbox positions (default: every change set aside). */
  seq?: string[];
}

/** `vfs-relay agent refused`: the changes the relay refused for good, as the agent set them aside. */
export async function agentRefused(options: RefusedCommandOptions): Promise<void> {
  const folders = await stateFolders(options);
  const listed: { outbox: string; records: RefusedChange[]; unreadable: number }[] = [];
  for (const outbox of folders) listed.push({ outbox, ...(await readRefused(outbox)) });
  if (options.json) {
    // `state` names the folder; `outbox`, its earlier name, stays for scripts written against it.
    const json = listed.map(({ outbox, ...rest }) => ({ state: outbox, outbox, ...rest }));
    print(JSON.stringify(json, null, 2));
    return;
  }
  const total = listed.reduce((n, l) => n + l.records.length, 0);
  for (const { outbox, records, unreadable } of listed) {
    for (const r of records) print(describe(r));
    if (unreadable > 0) print(`(${unreadable} unreadable lines in ${outbox}/refused.jsonl)`);
  }
  print(
    total === 0
      ? `no changes set aside in ${folders.join(', ')}`
      : `${total} change(s) set aside; after fixing the cause, stop the agent and run \`vfs-relay agent requeue\``,
  );
}

/** `vfs-relay agent requeue`: puts set-aside changes back at the end of the outbox (the agent must be stopped). */
export async function agentRequeue(options: RefusedCommandOptions): Promise<void> {
  const wanted = options.seq?.map((raw) => {
    const seq = Number(raw);
    if (!Number.isSafeInteger(seq) || seq < 1) throw new CliError(`--seq ${raw} is not an outbox position`);
    return seq;
  });
  let count = 0;
  for (const outbox of await stateFolders(options)) {
    const requeued = await requeueRefused(outbox, (r) => !wanted || wanted.includes(r.seq));
    for (const r of requeued) print(`re-queued ${describe(r)}`);
    count += requeued.length;
  }
  if (wanted && count === 0) throw new CliError(`no change set aside at --seq ${wanted.join(', ')}`);
  print(`${count} change(s) re-queued; the agent sends them when it starts`);
}

/**
 * The state folder named by --state (or found from --watch, as the agent finds it), and the documents' one inside
 * it when there is one. An older agent's outbox beside the watched folder (not moved yet: the agent moves it at
 * its next start) is found with --watch and --vfs.
 */
async function stateFolders(options: RefusedCommandOptions): Promise<string[]> {
  const given = options.state ?? options.outbox;
  let dir: string;
  if (given) dir = resolve(given);
  else if (options.watch) {
    dir = await defaultStateDir(resolve(options.watch)).catch(() => {
      throw new CliError(`--watch ${options.watch} is not a folder`);
    });
    const legacy = options.vfs ? legacyOutboxDir(resolve(options.watch), vfsBase(options.vfs)) : undefined;
    if (!existsSync(dir) && legacy && existsSync(legacy)) dir = legacy;
  } else throw new CliError('name the agent’s state folder: --state DIR, or --watch DIR as given to the agent');
  if (!existsSync(dir)) throw new CliError(`no agent state at ${dir}`);
  const documents = [join(dir, DOCUMENTS_STATE), `${dir}-config`].find((d) => existsSync(join(d, 'outbox.log')));
  return documents ? [dir, documents] : [dir];
}

function describe(r: RefusedChange): string {
  const what = r.change.action === 'rename' ? `${r.change.path} -> ${r.change.target}` : r.change.path;
  const why = [r.status, r.code].filter((x) => x !== undefined).join(' ');
  // A relay refusal's message already starts with its status and code.
  const text = r.message.startsWith(why) ? r.message : `${why}: ${r.message}`;
  return `#${r.seq} ${r.refusedAt} ${r.change.action} ${what}: ${text}`;
}

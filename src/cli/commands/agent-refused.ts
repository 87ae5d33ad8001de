import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultOutboxDir } from '../../agent/agent-config.js';
import { vfsBase } from '../../agent/paths.js';
import { type RefusedChange, readRefused, requeueRefused } from '../../agent/refused-changes.js';
import { CliError } from '../errors.js';

export interface RefusedCommandOptions {
  /** The agent's outbox folder; or --watch and --vfs, as given to the agent, to find the default one. */
  outbox?: string;
  watch?: string;
  vfs?: string;
  json?: boolean;
  /** requeue: only these outbox positions (default: every change set aside). */
  seq?: string[];
}

/** `vfs-relay agent refused`: the changes the relay refused for good, as the agent set them aside. */
export async function agentRefused(options: RefusedCommandOptions): Promise<void> {
  const folders = outboxFolders(options);
  const listed: { outbox: string; records: RefusedChange[]; unreadable: number }[] = [];
  for (const outbox of folders) listed.push({ outbox, ...(await readRefused(outbox)) });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
    return;
  }
  const total = listed.reduce((n, l) => n + l.records.length, 0);
  for (const { outbox, records, unreadable } of listed) {
    for (const r of records) process.stdout.write(`${describe(r)}\n`);
    if (unreadable > 0) process.stdout.write(`(${unreadable} unreadable lines in ${outbox}/refused.jsonl)\n`);
  }
  process.stdout.write(
    total === 0
      ? `no changes set aside in ${folders.join(', ')}\n`
      : `${total} change(s) set aside; after fixing the cause, stop the agent and run \`vfs-relay agent requeue\`\n`,
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
  for (const outbox of outboxFolders(options)) {
    const requeued = await requeueRefused(outbox, (r) => !wanted || wanted.includes(r.seq));
    for (const r of requeued) process.stdout.write(`re-queued ${describe(r)}\n`);
    count += requeued.length;
  }
  if (wanted && count === 0) throw new CliError(`no change set aside at --seq ${wanted.join(', ')}`);
  process.stdout.write(`${count} change(s) re-queued; the agent sends them when it starts\n`);
}

/** The outbox named by --outbox (or found from --watch and --vfs), and its `-config` sibling when there is one. */
function outboxFolders(options: RefusedCommandOptions): string[] {
  let dir: string;
  if (options.outbox) dir = resolve(options.outbox);
  else if (options.watch && options.vfs) dir = defaultOutboxDir(resolve(options.watch), vfsBase(options.vfs));
  else throw new CliError('name the agent’s outbox: --outbox DIR, or --watch DIR --vfs PATH as given to the agent');
  if (!existsSync(dir)) throw new CliError(`no outbox at ${dir}`);
  const documents = `${dir}-config`;
  return existsSync(documents) ? [dir, documents] : [dir];
}

function describe(r: RefusedChange): string {
  const what = r.change.action === 'rename' ? `${r.change.path} -> ${r.change.target}` : r.change.path;
  const why = [r.status, r.code].filter((x) => x !== undefined).join(' ');
  // A relay refusal's message already starts with its status and code.
  const text = r.message.startsWith(why) ? r.message : `${why}: ${r.message}`;
  return `#${r.seq} ${r.refusedAt} ${r.change.action} ${what}: ${text}`;
}

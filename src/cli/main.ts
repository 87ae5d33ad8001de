#!/usr/bin/env node
import '../runtime/threadpool.js';
import { Command, CommanderError, Option } from 'commander';
import { isRelayError } from '../core/errors.js';
import { addJobOptions } from './commands/job-options.js';
import { addRelayOptions, journalList, journalRetry, journalShow, journalSkip, status } from './commands/operator.js';
import { isCliError, UsageError } from './errors.js';
import { EXIT } from './exit-codes.js';
import { terminalSafe } from './format.js';
import { packageVersion } from './version.js';

/**
 * A command's action, loaded when the command runs: `status` and `journal` never load the AWS SDK, the agent
 * never loads the relay, and only `demo` loads the demo's WebDAV server.
 */
function lazy<A extends unknown[]>(load: () => Promise<(...args: A) => unknown>) {
  return async (...args: A): Promise<void> => {
    await (await load())(...args);
  };
}

const program = new Command()
  .name('vfs-relay')
  .description('Journaled replication relay for clustered file-transfer servers')
  .version(packageVersion(), '-V, --version', 'print the version')
  // A usage error is one line on stderr, as every other error (CONTRACT); `--help` shows the rest.
  .configureOutput({
    outputError: (message, write) =>
      write(
        `vfs-relay: ${terminalSafe(
          message
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' '),
        )}\n`,
      ),
  })
  .exitOverride();

/**
 * A command group (`journal`, `holds`, …) run without one of its commands, or with one it does not have: a
 * one-line usage error naming what it takes (commander printed the group's whole help to stderr instead).
 */
function group(command: Command): Command {
  return command.allowExcessArguments().action((_options: unknown, self: Command) => {
    const known = self.commands.map((c) => c.name()).join(', ');
    const [asked, about] = self.args;
    // `vfs-relay journal help [ls]`, which commander answers itself for a group without an action.
    if (asked === 'help') (self.commands.find((c) => c.name() === about) ?? self).help();
    throw new UsageError(
      asked === undefined
        ? `${self.name()}: name a command (${known}); see vfs-relay ${self.name()} --help`
        : `unknown command '${self.name()} ${asked}' (${self.name()} takes ${known})`,
    );
  });
}

program
  .command('serve')
  .description('run the API, the replayer and the pinger in one process')
  .option('--config <file>', 'config file (default $VFS_RELAY_CONFIG, else ./vfs-relay.config.json, else defaults)')
  .action(lazy(() => import('./commands/serve.js').then((m) => m.serve)));

program
  .command('demo')
  .description('a working local cluster with no setup: relay + WebDAV secondary + agent on a primary folder')
  .option('--dir <dir>', 'where the primary, secondary and data folders go', 'vfs-relay-demo')
  .option('--port <port>', 'relay API port (a free one if taken)', '8787')
  .action(lazy(() => import('./commands/demo.js').then((m) => m.demo)));

const agentCommand = program
  .command('agent')
  .description('node side: journal every change under a folder as a change under a VFS path')
  // Checked by the action, not by commander: `agent refused` and `agent requeue` need none of them.
  .option('--relay <url>', 'relay API base URL (required; default $VFS_RELAY_URL)', process.env.VFS_RELAY_URL)
  .option('--token <token>', 'node token (default $VFS_RELAY_NODE_TOKEN)')
  .option('--vfs <path>', 'the VFS path the folder stands for, e.g. /user_homes/ (required)')
  .option('--watch <dir>', 'the folder to watch, recursively (required)')
  .option('--state <dir>', 'the agent’s state folder: outbox, index (default: per user, see docs/agent.md)')
  .addOption(new Option('--outbox <dir>', 'older name of --state').hideHelp())
  .option('--initial-scan', 'also journal what the folder holds at start')
  .option('--ignore <pattern...>', 'more names or globs never reported (partial/temporary files are by default)')
  .option('--user <name>', 'who made the changes (sent with each one)')
  .option('--config-dir <dir>', 'also replicate configuration documents kept as <dir>/<scope>/<name>')
  .option('--watcher <kind>', 'folders (one watch per folder; default on Linux) or chokidar (default elsewhere)')
  .option(
    '--rescan-interval <seconds>',
    'list every folder again this often, to find changes whose events were lost (default 3600; 0: never)',
  )
  .action(lazy(() => import('./commands/agent.js').then((m) => m.agent)));
// Options named by the parent (--state, --watch, --vfs) are parsed by it: the actions merge both levels.
agentCommand
  .command('refused')
  .description('list the changes the relay refused for good, set aside by the agent')
  .option('--state <dir>', 'the agent’s state folder (or --watch as given to the agent)')
  .addOption(new Option('--outbox <dir>', 'older name of --state').hideHelp())
  .option('--json', 'as JSON')
  .action(async (_options: unknown, command: Command) =>
    (await import('./commands/agent-refused.js')).agentRefused(command.optsWithGlobals()),
  );
agentCommand
  .command('requeue')
  .description('put set-aside changes back into the outbox, to be sent at the next start (agent stopped)')
  .option('--state <dir>', 'the agent’s state folder (or --watch as given to the agent)')
  .addOption(new Option('--outbox <dir>', 'older name of --state').hideHelp())
  .option('--seq <n...>', 'only these (the #numbers `agent refused` shows); default all')
  .action(async (_options: unknown, command: Command) =>
    (await import('./commands/agent-refused.js')).agentRequeue(command.optsWithGlobals()),
  );

const config = group(program.command('config').description('the relay configuration'));
config
  .command('check')
  .description('validate the configuration without starting; print it with defaults filled in and secrets masked')
  .option('--config <file>', 'config file (default $VFS_RELAY_CONFIG, else ./vfs-relay.config.json, else defaults)')
  .action(lazy(() => import('./commands/config.js').then((m) => m.configCheck)));

addRelayOptions(program.command('status').description('peers, backlog and conflicts')).action(status);

const journal = group(program.command('journal').description('operator view of the journal, oldest first'));
addRelayOptions(journal.command('ls').description('list changes'))
  .option('--status <status>', 'AWAITING_BODY, PENDING, CONFLICT, FAILED, HELD or BLOCKED')
  .option('--peer <name>', 'only this peer')
  .option('--node <name>', 'only the changes this node sent')
  .option('--limit <n>', 'at most this many changes', '1000')
  .action(journalList);
addRelayOptions(journal.command('show').argument('<id>').description('one change with each peer’s status')).action(
  journalShow,
);
addRelayOptions(journal.command('retry').argument('<id>').description('CONFLICT/FAILED → PENDING; HELD → released'))
  .option('--peer <name>', 'only this peer')
  .action(journalRetry);
addRelayOptions(
  journal.command('skip').argument('<id>').description('drop the change from the journal (a HELD one: discard it)'),
)
  .option('--peer <name>', 'only this peer')
  .action(journalSkip);

const holdsModule = () => import('./commands/holds.js');
const holds = group(
  program.command('holds').description('changes the delete guard holds (HELD) until an operator acts'),
);
addRelayOptions(holds.command('ls').description('held changes, oldest first'))
  .option('--node <name>', 'only the changes this node sent')
  .action(lazy(() => holdsModule().then((m) => m.holdsList)));
addRelayOptions(holds.command('release').description('release them: they replay as usual, not counted again'))
  .option('--node <name>', 'only the changes this node sent')
  .action(lazy(() => holdsModule().then((m) => m.holdsRelease)));
addRelayOptions(holds.command('discard').description('discard them: dropped, the peers keep what they have'))
  .option('--node <name>', 'only the changes this node sent')
  .action(lazy(() => holdsModule().then((m) => m.holdsDiscard)));

const jobsModule = () => import('./commands/jobs.js');
const peer = group(program.command('peer').description('compare a peer with a source, and bring it to the same state'));
addJobOptions(addRelayOptions(peer.command('verify').argument('<name>', 'the peer')))
  .description('compare folder by folder; exit 0 when identical, 3 when different')
  .action(lazy(() => jobsModule().then((m) => m.peerVerify)));
addJobOptions(addRelayOptions(peer.command('resync').argument('<name>', 'the peer')))
  .description("copy what is missing or different from the source through the peer's lane")
  .option('--delete', 'also remove what the peer has and the source has not')
  .option('--dry-run', 'report what would be done, change nothing')
  .option('--detach', 'print the job id and return at once')
  .action(lazy(() => jobsModule().then((m) => m.peerResync)));

const jobs = group(program.command('jobs').description('verify and resync jobs'));
addRelayOptions(jobs.command('ls').description('jobs, newest first'))
  .option('--limit <n>', 'at most this many', '20')
  .action(lazy(() => jobsModule().then((m) => m.jobsList)));
addRelayOptions(jobs.command('show').argument('<id>').description('one job with its counts and differences'))
  .option('--differences <n>', 'how many differences to print', '20')
  .action(lazy(() => jobsModule().then((m) => m.jobsShow)));
addRelayOptions(jobs.command('cancel').argument('<id>').description('cancel a running job')).action(
  lazy(() => jobsModule().then((m) => m.jobsCancel)),
);

// No top-level await: the same module is also bundled as CommonJS (dist/cli/vfs-relay.cjs, scripts/build-cli.ts).
program.parseAsync(process.argv).catch((error: unknown) => {
  // Commander has printed its message (or the help, or the version): 0 for those, 2 for a usage error.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
  const message = isCliError(error) || isRelayError(error) ? error.message : String((error as Error)?.stack ?? error);
  process.stderr.write(`vfs-relay: ${terminalSafe(message.split('\n')[0]!)}\n`);
  process.exit(isCliError(error) ? error.exitCode : EXIT.ERROR);
});

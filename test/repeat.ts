/**
 * `npm run test:repeat -- [--times N] [files or folders...]`: runs the given suites (default: the integration
 * suites) N times in a row (default 5), stops at the first failing run and names the tests that failed, with the
 * duration of every run. For anyone hunting a flaky test: a suite that passes once and fails the next time is a
 * defect (see docs/testing.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface JsonReport {
  testResults: { name: string; assertionResults: { fullName: string; status: string }[]; message?: string }[];
}

function parseArgs(argv: string[]): { times: number; targets: string[] } {
  let times = 5;
  const targets: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--times') times = Number(argv[++i]);
    else if (arg.startsWith('--times=')) times = Number(arg.slice('--times='.length));
    else targets.push(arg);
  }
  if (!Number.isInteger(times) || times < 1) {
    process.stderr.write('test:repeat: --times must be a whole number of at least 1\n');
    process.exit(2);
  }
  return { times, targets: targets.length > 0 ? targets : ['test/integration'] };
}

function failuresOf(report: JsonReport): string[] {
  return report.testResults.flatMap((file) => {
    const failed = file.assertionResults
      .filter((t) => t.status === 'failed')
      .map((t) => `${file.name} > ${t.fullName}`);
    // A file that failed before any test ran (an import error, a hook) has no failed test to name.
    return failed.length > 0 || !file.message ? failed : [`${file.name}: ${file.message.split('\n')[0]}`];
  });
}

const { times, targets } = parseArgs(process.argv.slice(2));
const scratch = mkdtempSync(join(tmpdir(), 'vfs-relay-repeat-'));
const durations: number[] = [];
try {
  for (let run = 1; run <= times; run++) {
    const report = join(scratch, `run-${run}.json`);
    const started = Date.now();
    process.stdout.write(`\n=== test:repeat run ${run}/${times}: ${targets.join(' ')}\n`);
    const result = spawnSync(
      'npx',
      ['vitest', 'run', ...targets, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
      { stdio: 'inherit' },
    );
    durations.push(Date.now() - started);
    const seconds = (durations.at(-1)! / 1000).toFixed(0);
    if (result.status !== 0) {
      let failed: string[] = [];
      try {
        failed = failuresOf(JSON.parse(readFileSync(report, 'utf8')) as JsonReport);
      } catch {
        // no report: vitest itself failed to start; its output above says why
      }
      process.stdout.write(`\n=== test:repeat: run ${run} of ${times} FAILED after ${seconds} s\n`);
      for (const name of failed) process.stdout.write(`  failed: ${name}\n`);
      process.exit(1);
    }
    process.stdout.write(`=== run ${run} passed in ${seconds} s\n`);
  }
  const list = durations.map((ms) => `${(ms / 1000).toFixed(0)} s`).join(', ');
  process.stdout.write(`\n=== test:repeat: ${times} of ${times} runs passed (${list})\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

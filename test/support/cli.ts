import { execFile } from 'node:child_process';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One run of the (bundled or built) CLI to its end; no admin token from this process's environment unless given. */
export function runCli(
  main: string,
  args: string[],
  env: Record<string, string> = {},
  cwd: string = process.cwd(),
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [main, ...args],
      { env: { ...process.env, VFS_RELAY_ADMIN_TOKEN: '', ...env }, timeout: 30_000, cwd },
      (error, stdout, stderr) => resolve({ code: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * The end of every child script (crash-child, cloud-child, agent-child): tells the parent it is ready — the
 * `READY <detail>` line spawnTs waits for — then closes cleanly and exits 0 on SIGTERM or SIGINT.
 */
export function readyUntilSignal(detail: string, close: () => Promise<void>): void {
  process.stdout.write(`READY ${detail}\n`);
  const stop = async () => {
    await close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // spawnTs keeps a pipe to our stdin: it closes when the parent goes away, however it died. Exit then, so that
  // no relay or agent outlives the test run that started it.
  if (process.env.VFS_RELAY_TEST_PARENT_PIPE === '1') {
    process.stdin.on('end', () => process.exit(1));
    process.stdin.on('error', () => process.exit(1));
    process.stdin.resume();
  }
}

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
}

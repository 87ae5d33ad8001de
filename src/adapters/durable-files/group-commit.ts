/**
 * Group commit: `commit` never runs twice at once, and every caller that asks while it runs shares the next run,
 * which starts as soon as the running one ends. Under a burst of N callers this costs about two runs (two fsyncs)
 * instead of N. A run that fails rejects only its own callers; the next one is tried afresh.
 */
export class GroupCommit {
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  constructor(private readonly commit: () => Promise<void>) {}

  /** Resolves once a run that started after this call has finished. */
  request(): Promise<void> {
    if (this.queued) return this.queued;
    const running = this.running;
    if (!running) return this.start();
    const queued = running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.start();
      });
    this.queued = queued;
    return queued;
  }

  /** True when no run is going on or waiting. */
  get idle(): boolean {
    return this.running === null && this.queued === null;
  }

  /** Resolves (never rejects) once the runs asked for so far have ended. */
  settled(): Promise<void> {
    return (this.queued ?? this.running ?? Promise.resolve()).then(
      () => undefined,
      () => undefined,
    );
  }

  private start(): Promise<void> {
    const run = Promise.resolve()
      .then(this.commit)
      .finally(() => {
        if (this.running === run) this.running = null;
      });
    this.running = run;
    return run;
  }
}

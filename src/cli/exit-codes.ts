/** The exit status of every `vfs-relay` command (docs/operations.md "Exit codes"). */
export const EXIT = {
  OK: 0,
  /** Something failed: one line on stderr says what. */
  ERROR: 1,
  /** The command line itself is wrong: unknown command or option, missing or bad argument. */
  USAGE: 2,
  /** A comparison (`peer verify`) found differences. */
  DIFFERENCES: 3,
} as const;

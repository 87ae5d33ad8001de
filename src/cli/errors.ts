import { EXIT } from './exit-codes.js';

/** A failure to report as one line on stderr with a non-zero exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.ERROR,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Marks every CliError, whichever copy of this module made it (see isCliError). */
const CLI_ERROR = Symbol.for('vfs-relay.CliError');
Object.defineProperty(CliError.prototype, CLI_ERROR, { value: true });

/** `instanceof CliError` across copies of this module (the bin's bundle and the commands it loads). */
export function isCliError(error: unknown): error is CliError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[CLI_ERROR] === true;
}

/** The command line is wrong (a bad option value): exit status 2, like commander's own usage errors. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
  }
}

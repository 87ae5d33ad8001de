/** The journal I/O thread's name in `top -H`, `ps -L`, perf and /proc (at most 15 bytes; see janitor-thread.ts). */
export const IO_THREAD_NAME = 'vfs-relay-io';

// Imported first by every process entry point. libuv's thread pool (4 threads by default) runs every fs call;
// the journal's fsyncs block a thread each, and the file system merges concurrent fsyncs into one journal
// commit, so more threads mean more changes per fsync under load. Must be set before the pool's first use.
process.env.UV_THREADPOOL_SIZE ??= '64';

import type { ThroughputSeries } from '../../core/throughput.js';
import type { ChangeReading, JobReading, PeerReading } from '../operator-reads.js';
import { ThroughputCharts } from './chart.js';
import { ageOf, formatBytes } from './format.js';

/** One peer's entry of a change that waits for an operator (or behind one). */
export interface StuckRow {
  change: ChangeReading;
  peer: ChangeReading['peers'][number];
}

export interface PanelData {
  peers: PeerReading[];
  stuck: StuckRow[];
  /** More stuck entries exist than are listed. */
  stuckTruncated: boolean;
  /** Undefined: this relay has no jobs API. */
  jobs?: JobReading[];
  /** Why the jobs could not be read. */
  jobsError?: string;
  throughput?: ThroughputSeries;
  now: Date;
}

/**
 * The console's live part, rendered on the server as an HTML fragment that the page swaps in at each poll. JSX
 * escapes every text and attribute, so paths and peer answers show as written, whatever characters they hold.
 * Buttons carry the API call they make (`data-method`, `data-url`); the page's script adds the token.
 */
export function Panel(props: PanelData) {
  return (
    <div class="panel">
      <PeerTable peers={props.peers} now={props.now} />
      <StuckTable rows={props.stuck} truncated={props.stuckTruncated} now={props.now} />
      {props.jobs ? <JobTable jobs={props.jobs} error={props.jobsError} now={props.now} /> : null}
      {props.throughput ? <ThroughputCharts series={props.throughput} /> : null}
    </div>
  );
}

function Badge({ status }: { status: string }) {
  return <span class={`badge ${status.toLowerCase().replace(/[^a-z_]/g, '')}`}>{status}</span>;
}

function Age({ at, now }: { at: string | null | undefined; now: Date }) {
  const age = ageOf(at, now);
  return age ? (
    <time datetime={at!} title={at!}>
      {age} ago
    </time>
  ) : (
    <span class="muted">—</span>
  );
}

function Count({ n, alert }: { n: number; alert?: boolean }) {
  return <td class={`num${alert && n > 0 ? ' alert' : ''}`}>{n}</td>;
}

function PeerTable({ peers, now }: { peers: PeerReading[]; now: Date }) {
  return (
    <section id="peers" aria-labelledby="peers-title">
      <h2 id="peers-title">Peers</h2>
      <table>
        <thead>
          <tr>
            <th>Peer</th>
            <th>Status</th>
            <th class="num">Pending</th>
            <th class="num">Bytes</th>
            <th>Oldest pending</th>
            <th class="num">Conflicts</th>
            <th class="num">Failed</th>
            <th class="num">Blocked</th>
            <th class="num">Held</th>
            <th>Last ping</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {peers.map((p) => (
            <tr data-peer={p.name}>
              <td>
                <strong>{p.name}</strong>
                <div class="muted small">{p.url}</div>
              </td>
              <td>
                <Badge status={p.status} />
                {p.lastError ? <div class="answer">{p.lastError}</div> : null}
              </td>
              <Count n={p.pending} />
              <td class="num">{formatBytes(p.pendingBytes)}</td>
              <td>
                <Age at={p.oldestPendingAt} now={now} />
              </td>
              <Count n={p.conflicts} alert />
              <Count n={p.failed} alert />
              <Count n={p.blocked} />
              <Count n={p.held} alert />
              <td>
                <Age at={p.lastPingAt} now={now} />
              </td>
              <td>
                <button
                  type="button"
                  data-method="POST"
                  data-url={`/v1/peers/${encodeURIComponent(p.name)}/ping`}
                  data-done={`Pinged ${p.name}`}
                >
                  Ping now
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Which buttons a stuck entry gets. BLOCKED has none: it moves once what it waits behind is dealt with. */
function Actions({ row }: { row: StuckRow }) {
  const id = encodeURIComponent(row.change.id);
  const peer = encodeURIComponent(row.peer.peer);
  const retry = `/v1/changes/${id}/retry?peer=${peer}`;
  const drop = `/v1/changes/${id}?peer=${peer}`;
  const held = row.peer.status === 'HELD';
  if (row.peer.status === 'BLOCKED') return null;
  return (
    <>
      <button type="button" data-method="POST" data-url={retry} data-done={held ? 'Released' : 'Retried'}>
        {held ? 'Release' : 'Retry'}
      </button>{' '}
      <button
        type="button"
        class="danger"
        data-method="DELETE"
        data-url={drop}
        data-done={held ? 'Discarded' : 'Skipped'}
        data-confirm={`${held ? 'Discard' : 'Skip'} ${row.change.action} ${row.change.path} for peer ${row.peer.peer}? It is dropped from the journal and never replayed.`}
      >
        {held ? 'Discard' : 'Skip'}
      </button>
    </>
  );
}

function StuckTable({ rows, truncated, now }: { rows: StuckRow[]; truncated: boolean; now: Date }) {
  return (
    <section id="stuck" aria-labelledby="stuck-title">
      <h2 id="stuck-title">Stuck changes</h2>
      {rows.length === 0 ? (
        <p class="muted">Nothing waits for an operator.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Change</th>
              <th>Peer</th>
              <th>Status</th>
              <th class="num">Attempts</th>
              <th>Peer's answer</th>
              <th>Last attempt</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr data-change={row.change.id} data-peer={row.peer.peer} data-status={row.peer.status}>
                <td>
                  <span class="action">{row.change.action}</span> <span class="path">{row.change.path}</span>
                  {row.change.target ? (
                    <>
                      {' → '}
                      <span class="path">{row.change.target}</span>
                    </>
                  ) : null}
                  <div class="muted small">
                    <code>{row.change.id}</code>
                    {row.change.node ? ` from ${row.change.node}` : ''}
                    {row.change.user ? ` by ${row.change.user}` : ''}
                  </div>
                </td>
                <td>{row.peer.peer}</td>
                <td>
                  <Badge status={row.peer.status} />
                  {row.peer.blockedBy ? (
                    <div class="small">
                      behind <code class="blocker">{row.peer.blockedBy}</code>
                    </div>
                  ) : null}
                </td>
                <td class="num">{row.peer.attempts}</td>
                <td class="answer">{row.peer.lastError ?? ''}</td>
                <td>
                  <Age at={row.peer.lastAttemptAt} now={now} />
                </td>
                <td class="actions">
                  <Actions row={row} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {truncated ? (
        <p class="muted">
          Only the oldest are listed; <code>vfs-relay journal ls</code> shows them all.
        </p>
      ) : null}
    </section>
  );
}

const COUNT_NAMES = ['scanned', 'same', 'missing', 'different', 'extra', 'copied', 'deleted', 'held', 'failed'];

function Progress({ job }: { job: JobReading }) {
  const total = job.bytes.total ?? 0;
  const copied = job.bytes.copied ?? 0;
  if (job.status !== 'RUNNING') return null;
  // Until the bytes to copy are known (a verify never knows them), the bar only says the job is alive.
  return total > 0 ? (
    <progress max={total} value={Math.min(copied, total)} title={`${formatBytes(copied)} of ${formatBytes(total)}`} />
  ) : (
    <progress />
  );
}

function JobTable({ jobs, error, now }: { jobs: JobReading[]; error?: string; now: Date }) {
  const running = jobs.filter((j) => j.status === 'RUNNING');
  const recent = jobs.filter((j) => j.status !== 'RUNNING').slice(0, 5);
  return (
    <section id="jobs" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Resync and verify jobs</h2>
      {error ? (
        <p class="alert">The jobs could not be read: {error}</p>
      ) : running.length + recent.length === 0 ? (
        <p class="muted">No jobs.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Job</th>
              <th>Peer</th>
              <th>Status</th>
              <th>Progress</th>
              <th>Started</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {[...running, ...recent].map((job) => (
              <tr data-job={job.id} data-status={job.status}>
                <td>
                  <span class="action">{job.kind}</span> <span class="path">{job.path ?? '/'}</span>
                  <div class="muted small">
                    <code>{job.id}</code>
                  </div>
                </td>
                <td>
                  {job.peer ?? ''}
                  {job.from ? <span class="muted"> ← {job.from}</span> : null}
                </td>
                <td>
                  <Badge status={job.status} />
                  {job.error ? <div class="answer">{job.error}</div> : null}
                </td>
                <td>
                  <Progress job={job} />
                  <div class="small">
                    {COUNT_NAMES.filter((k) => (job.counts[k] ?? 0) > 0)
                      .map((k) => `${k} ${job.counts[k]}`)
                      .join(' · ') || 'starting'}
                  </div>
                </td>
                <td>
                  <Age at={job.startedAt} now={now} />
                </td>
                <td>
                  {job.status === 'RUNNING' ? (
                    <button
                      type="button"
                      class="danger"
                      data-method="DELETE"
                      data-url={`/v1/jobs/${encodeURIComponent(job.id)}`}
                      data-done="Cancelled"
                      data-confirm={`Cancel the ${job.kind} of ${job.peer ?? 'the peer'}?`}
                    >
                      Cancel
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

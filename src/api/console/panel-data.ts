import type { ThroughputSeries } from '../../core/throughput.js';
import type { OperatorReads, PeerReading } from '../operator-reads.js';
import type { PanelData, StuckRow } from './panel.js';

/** Statuses an operator acts on (or that wait behind one), in the order the console lists them. */
const STUCK: readonly { status: string; count: (p: PeerReading) => number }[] = [
  { status: 'FAILED', count: (p) => p.failed },
  { status: 'CONFLICT', count: (p) => p.conflicts },
  { status: 'HELD', count: (p) => p.held },
  { status: 'BLOCKED', count: (p) => p.blocked },
];

/** The oldest this many changes of each stuck status are listed. */
export const STUCK_LIMIT = 100;

/**
 * Gathers what the panel shows. A stuck status is listed only when some peer counts it, so a healthy relay costs
 * one backlog read per refresh, and a status this relay does not know yet (HELD before the delete guard) is
 * never asked for.
 */
export async function panelData(
  reads: OperatorReads,
  options: { throughput?: () => ThroughputSeries; now: Date },
): Promise<PanelData> {
  const peers = await reads.peers();
  const wanted = STUCK.filter((s) => peers.some((p) => s.count(p) > 0));
  const [lists, jobs] = await Promise.all([
    Promise.all(wanted.map((s) => reads.changes(s.status, STUCK_LIMIT))),
    // The jobs panel is secondary: a jobs API the console cannot read costs that panel, not the console.
    reads.jobs().catch((error: Error) => error),
  ]);
  const rows = new Map<string, StuckRow>();
  wanted.forEach((s, i) => {
    for (const change of lists[i]!) {
      for (const peer of change.peers) {
        if (peer.status === s.status) rows.set(`${change.id}\u0000${peer.peer}`, { change, peer });
      }
    }
  });
  const rank = (status: string) => STUCK.findIndex((s) => s.status === status);
  const stuck = [...rows.values()].sort(
    (a, b) => rank(a.peer.status) - rank(b.peer.status) || (a.change.id < b.change.id ? -1 : 1),
  );
  return {
    peers,
    stuck,
    stuckTruncated: lists.some((l) => l.length >= STUCK_LIMIT),
    jobs: jobs instanceof Error ? [] : jobs,
    jobsError: jobs instanceof Error ? jobs.message : undefined,
    throughput: options.throughput?.(),
    now: options.now,
  };
}

import type { ThroughputSeries } from '../../core/throughput.js';
import { formatBytes, formatDuration, formatRate } from './format.js';

const WIDTH = 600;
const HEIGHT = 120;
const TOP = 14;
const BOTTOM = 104;
/** Line colours come from CSS classes s0…s7 (the page's CSP allows no inline styles). */
const PALETTE_SIZE = 8;

interface Line {
  peer: string;
  values: number[];
}

/** One small line chart: a polyline per peer, the largest value as the scale, oldest on the left. */
function LineChart(props: { title: string; lines: Line[]; windowMs: number; format: (v: number) => string }) {
  const max = Math.max(0, ...props.lines.flatMap((l) => l.values));
  const scale = max > 0 ? max : 1;
  const points = (values: number[]) =>
    values
      .map((v, i) => {
        const x = values.length > 1 ? (i / (values.length - 1)) * WIDTH : 0;
        const y = BOTTOM - (v / scale) * (BOTTOM - TOP);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(' ');
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${props.title}, peak ${props.format(max)}`}>
        <line class="axis" x1="0" y1={BOTTOM} x2={WIDTH} y2={BOTTOM} />
        <line class="grid" x1="0" y1={TOP} x2={WIDTH} y2={TOP} />
        <text class="label" x="2" y={TOP - 3}>
          {props.format(max)}
        </text>
        {props.lines.map((line, i) => (
          <polyline class={`line s${i % PALETTE_SIZE}`} points={points(line.values)}>
            <title>{line.peer}</title>
          </polyline>
        ))}
        <text class="label" x="2" y={HEIGHT - 2}>
          −{formatDuration(props.windowMs)}
        </text>
        <text class="label" x={WIDTH - 2} y={HEIGHT - 2} text-anchor="end">
          now
        </text>
      </svg>
    </figure>
  );
}

/** Changes/s and bytes/s applied on each peer over the meter's window. */
export function ThroughputCharts({ series }: { series: ThroughputSeries }) {
  const interval = series.intervalSeconds;
  const buckets = series.peers[0]?.changes.length ?? 0;
  const windowMs = buckets * interval * 1000;
  const rates = (pick: (p: ThroughputSeries['peers'][number]) => number[]) =>
    series.peers.map((p) => ({ peer: p.peer, values: pick(p).map((v) => v / interval) }));
  return (
    <section id="throughput" aria-labelledby="throughput-title">
      <h2 id="throughput-title">Throughput</h2>
      <ul class="legend">
        {series.peers.map((p, i) => (
          <li>
            <span class={`swatch s${i % PALETTE_SIZE}`} aria-hidden="true" />
            {p.peer}
          </li>
        ))}
      </ul>
      <div class="charts">
        <LineChart title="changes/s" lines={rates((p) => p.changes)} windowMs={windowMs} format={formatRate} />
        <LineChart
          title="bytes/s"
          lines={rates((p) => p.bytes)}
          windowMs={windowMs}
          format={(v) => `${formatBytes(Math.round(v))}/s`}
        />
      </div>
    </section>
  );
}

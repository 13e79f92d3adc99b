import type { Progress, RunSummary } from '../domain/runs';
import type { CollectionStatus } from '../store/readModel';

/**
 * `12,345`: counts with thousands separators. Written out rather than Intl.NumberFormat, whose first use loads ICU
 * data: 20-60 ms of every CLI start for a comma.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+$)/g, ',');
  return n < 0 ? `-${digits}` : digits;
}

/**
 * What a run line needs: the collection and the outcome; every count is shown when the summary has it (the
 * `sync-run {json}` log line, which the local host turns into this line, carries what Application Insights needs).
 * `records` is what older summaries call `read`.
 */
export type RunLineInput = Pick<RunSummary, 'collection' | 'outcome'> & Partial<Omit<RunSummary, 'collection' | 'outcome'>> & { records?: number };

const plural = (n: number, one: string, many: string) => `${formatCount(n)} ${n === 1 ? one : many}`;

/**
 * One readable line per run, for people (the CLI summary, the local host, the demo):
 * `riskDetections: succeeded in 12.3 s, 1,600 read in 4 pages (120 new, 30 updated, 1,450 unchanged), 2 retries, 1 throttled`.
 * Machines read `--json` or the `sync-run {json}` log line instead.
 */
export function formatRunLine(s: RunLineInput): string {
  const parts: string[] = [];
  const ended = s.outcome === 'failed' || s.outcome === 'interrupted' ? 'after' : 'in';
  const head = `${s.collection}: ${s.outcome}${s.full ? ' (full)' : ''}${s.sweep ? ' (sweep)' : ''}`;
  parts.push(s.durationMs === undefined ? head : `${head} ${ended} ${(s.durationMs / 1000).toFixed(1)} s`);
  const read = s.read ?? s.records;
  if (read !== undefined) {
    let text = `${formatCount(read)} read`;
    if (s.pages !== undefined) text += ` in ${plural(s.pages, 'page', 'pages')}`;
    if (s.new !== undefined && s.updated !== undefined && s.unchanged !== undefined) {
      text += ` (${formatCount(s.new)} new, ${formatCount(s.updated)} updated, ${formatCount(s.unchanged)} unchanged)`;
    }
    parts.push(text);
  }
  if (s.adjusted) parts.push(`${formatCount(s.adjusted)} stored with adjustments`);
  if (s.quarantined) parts.push(`${formatCount(s.quarantined)} quarantined`);
  if (s.restarts) parts.push(plural(s.restarts, 'pass restart', 'pass restarts'));
  if (typeof s.sweepFound === 'number') parts.push(`the sweep found ${plural(s.sweepFound, 'record', 'records')} the ordinary runs had missed`);
  if (s.dataShape === 'P1') parts.push('data as Entra ID P1 serves it (premium detections generic, risk hidden)');
  if (s.retries !== undefined) parts.push(plural(s.retries, 'retry', 'retries'));
  if (s.throttles !== undefined) parts.push(`${formatCount(s.throttles)} throttled`);
  let line = parts.join(', ');
  if (s.error) line += ` - ${s.outcome === 'failed' || s.outcome === 'interrupted' ? 'error' : 'note'}: ${s.error}`;
  if (s.action) line += ` - to do: ${s.action}`;
  return line;
}

export function formatSummary(summaries: RunLineInput[]): string {
  return summaries.map((s) => `${formatRunLine(s)}\n`).join('');
}

export function formatStatus(statuses: CollectionStatus[]): string {
  return statuses
    .map((s) => {
      const lines = [
        `${s.collection} (table ${s.table}, schedule '${s.schedule}')${s.stale ? '  STALE' : ''}`,
        `  watermark:        ${s.watermark ?? '(none yet)'}`,
        `  last success:     ${s.lastSuccessfulSyncAt ?? '(never)'}`,
        `  last run:         ${s.lastRun ? `${s.lastRun.outcome} at ${s.lastRun.finishedAt}, ${formatCount(s.lastRun.read)} read` : '(none)'}`,
      ];
      if (s.lastRun?.error) lines.push(`  last error:       ${s.lastRun.error}`);
      if (s.passInProgress) lines.push(`  pass in progress: since ${s.passInProgress.startedAt}, ${s.passInProgress.pages} pages stored`);
      lines.push(`  rows:             ${formatCount(s.total)}`);
      for (const [column, values] of Object.entries(s.counts)) {
        const text = Object.entries(values)
          .sort(([, a], [, b]) => b - a)
          .map(([v, n]) => `${v} ${formatCount(n)}`)
          .join(', ');
        lines.push(`  by ${column}:${' '.repeat(Math.max(1, 14 - column.length))}${text || '-'}`);
      }
      if (s.access !== 'licensed') lines.push(`  access:           ${s.access}: ${s.accessAction ?? ''}`);
      if (s.lastSweep)
        lines.push(`  last sweep:       ${s.lastSweep.finishedAt}, found ${formatCount(s.lastSweep.found)} the ordinary runs had missed`);
      if (s.dataShape === 'P1') lines.push('  data shape:       Entra ID P1 (premium detections generic, risk hidden)');
      if (s.quarantined) lines.push(`  quarantined:      ${formatCount(s.quarantined)} records (table SyncQuarantine)`);
      if (s.staleReason) lines.push(`  stale because:    ${s.staleReason}`);
      return lines.join('\n');
    })
    .join('\n\n')
    .concat('\n');
}

/** Progress on stderr during long passes: rewritten in place on a terminal, one line every few seconds otherwise. */
export class ProgressLine {
  private last = new Map<string, Progress>();
  private printedAt = 0;
  private dirty = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly intervalMs = stream.isTTY ? 200 : 5000,
  ) {}

  update(progress: Progress): void {
    this.last.set(progress.collection, progress);
    if (Date.now() - this.printedAt < this.intervalMs) return;
    this.printedAt = Date.now();
    const text = [...this.last.values()]
      .map(
        (p) =>
          `${p.collection}: ${plural(p.pages, 'page', 'pages')}, ${formatCount(p.read)} read, ${formatCount(Math.round(p.read / Math.max(0.001, p.elapsedMs / 1000)))} records/s`,
      )
      .join(' | ');
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[K${text}`);
      this.dirty = true;
    } else this.stream.write(`${text}\n`);
  }

  log(message: string): void {
    this.clear();
    this.stream.write(`${message}\n`);
  }

  done(): void {
    this.clear();
  }

  private clear() {
    if (this.dirty) this.stream.write('\r\x1b[K');
    this.dirty = false;
  }
}

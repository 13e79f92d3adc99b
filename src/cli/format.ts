import type { Progress, RunSummary } from '../domain/runs';
import type { CollectionStatus } from '../store/readModel';

const number = new Intl.NumberFormat('en-US');

export function formatSummary(summaries: RunSummary[]): string {
  const lines = summaries.map((s) => {
    const seconds = (s.durationMs ?? 0) / 1000;
    const parts = [
      `${s.collection}: ${s.outcome}`,
      `${number.format(s.read)} read in ${number.format(s.pages)} pages (${number.format(s.new)} new, ${number.format(s.updated)} updated, ${number.format(s.unchanged)} unchanged)`,
      `${seconds.toFixed(1)} s`,
      `${number.format(s.requests)} requests, ${s.retries} retries, ${s.throttles} throttled`,
    ];
    if (s.adjusted) parts.push(`${s.adjusted} stored with adjustments`);
    if (s.quarantined) parts.push(`${s.quarantined} records quarantined`);
    if (s.restarts) parts.push(`${s.restarts} pass restarts`);
    parts.push(`watermark ${s.watermarkBefore ?? '(none)'} -> ${s.watermarkAfter ?? '(none)'}`);
    return `${parts.join(', ')}${s.error ? `\n  ${s.outcome === 'skipped' ? 'note' : 'error'}: ${s.error}` : ''}`;
  });
  return `${lines.join('\n')}\n`;
}

export function formatStatus(statuses: CollectionStatus[]): string {
  return statuses
    .map((s) => {
      const lines = [
        `${s.collection} (table ${s.table}, schedule '${s.schedule}')${s.stale ? '  STALE' : ''}`,
        `  watermark:        ${s.watermark ?? '(none yet)'}`,
        `  last success:     ${s.lastSuccessfulSyncAt ?? '(never)'}`,
        `  last run:         ${s.lastRun ? `${s.lastRun.outcome} at ${s.lastRun.finishedAt}, ${number.format(s.lastRun.read)} read` : '(none)'}`,
      ];
      if (s.lastRun?.error) lines.push(`  last error:       ${s.lastRun.error}`);
      if (s.passInProgress) lines.push(`  pass in progress: since ${s.passInProgress.startedAt}, ${s.passInProgress.pages} pages stored`);
      lines.push(`  rows:             ${number.format(s.total)}`);
      for (const [column, values] of Object.entries(s.counts)) {
        const text = Object.entries(values)
          .sort(([, a], [, b]) => b - a)
          .map(([v, n]) => `${v} ${number.format(n)}`)
          .join(', ');
        lines.push(`  by ${column}:${' '.repeat(Math.max(1, 14 - column.length))}${text || '-'}`);
      }
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
          `${p.collection}: ${number.format(p.pages)} pages, ${number.format(p.read)} read, ${number.format(Math.round(p.read / Math.max(0.001, p.elapsedMs / 1000)))} records/s`,
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

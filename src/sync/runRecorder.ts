import type { TableClient } from '@azure/data-tables';
import type { Logger } from '../domain/logger';
import type { RunSummary } from '../domain/runs';
import { markInterrupted, runRowKey, writeRun } from '../store/syncRuns';

/**
 * A run's row in SyncRuns, and its one structured log line. The row is written when the state names the run (so a run
 * killed in between is marked `interrupted` by the next one, never left `running`), again with its outcome before the
 * state lets go of it, and last with the final figures.
 */
export class RunRecorder {
  constructor(
    private readonly runs: TableClient,
    readonly summary: RunSummary,
    private readonly now: () => number,
  ) {}

  get rowKey(): string {
    return runRowKey(this.summary.startedAt, this.summary.runId);
  }

  /** Writes the row as it is now. */
  write(): Promise<void> {
    return writeRun(this.runs, this.summary);
  }

  /** Marks the row of a run that stopped without recording its end. */
  markInterrupted(rowKey: string): Promise<void> {
    return markInterrupted(this.runs, this.summary.tenantId, this.summary.collection, rowKey, this.summary.runId);
  }

  /** Final figures, the row, the log line. Never throws: a run that could not record its row says so in the log. */
  async finish(log: Logger): Promise<RunSummary> {
    const summary = this.summary;
    summary.finishedAt ??= new Date(this.now()).toISOString();
    summary.durationMs = Date.parse(summary.finishedAt) - Date.parse(summary.startedAt);
    try {
      await this.write();
    } catch (error) {
      log.error(`${summary.collection}: could not write the SyncRuns row: ${(error as Error).message}`);
    }
    const line = `sync-run ${JSON.stringify(summaryLog(summary))}`;
    if (summary.outcome === 'failed') log.error(line);
    else log.info(line);
    return summary;
  }
}

/** The one structured line per run that Application Insights queries read (see README, KQL). */
export function summaryLog(s: RunSummary) {
  return {
    collection: s.collection,
    outcome: s.outcome,
    trigger: s.trigger,
    runId: s.runId,
    sweep: s.sweep,
    pages: s.pages,
    read: s.read,
    new: s.new,
    updated: s.updated,
    unchanged: s.unchanged,
    adjusted: s.adjusted,
    quarantined: s.quarantined,
    transactions: s.transactions,
    requests: s.requests,
    retries: s.retries,
    throttles: s.throttles,
    restarts: s.restarts,
    durationMs: s.durationMs,
    watermarkBefore: s.watermarkBefore ?? null,
    watermarkAfter: s.watermarkAfter ?? null,
    error: s.error ?? null,
    action: s.action ?? null,
    sweepFound: s.sweepFound ?? null,
    dataShape: s.dataShape ?? null,
  };
}

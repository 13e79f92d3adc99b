import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Who holds a collection's lease, and whether a lease row can still belong to a live run.
 *
 * A lease row names its holder's run, host, process id and that process's start (so a reused pid is not taken for
 * the holder). Expiry is judged on Table Storage's clock alone: the row's server `Timestamp` (when it was last renewed)
 * against the `Date` of the answer that read it. No host's clock is compared with another's, so a host whose clock is
 * minutes ahead or behind can neither steal a live lease nor keep a dead one.
 */
export interface LeaseHolder {
  runId: string;
  host: string;
  pid: number;
  /** The holder process's start, as the OS tells it (`/proc/<pid>/stat`), or '' where unknown. */
  pidStart: string;
}

export interface ProcessIdentity {
  host: string;
  pid: number;
  pidStart: string;
  /** Whether a process of this host with that pid and start is alive. */
  isAlive(pid: number, pidStart: string): boolean;
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot (Linux). */
function startOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const thisProcess: ProcessIdentity = {
  host: hostname(),
  pid: process.pid,
  pidStart: startOf(process.pid) ?? '',
  isAlive(pid, pidStart) {
    if (!pidExists(pid)) return false;
    if (pidStart === '') return true; // no start recorded (another OS): the pid alone decides
    const start = startOf(pid);
    return start === undefined || start === pidStart; // another process now has the pid: the holder is gone
  },
};

/** Table Storage's view of a lease row's age: its Timestamp against the Date of the answer that carried it. */
export function leaseAgeMs(rowTimestamp: unknown, serverDate: string | undefined | null, fallbackNow: number): number {
  const written = typeof rowTimestamp === 'string' ? Date.parse(rowTimestamp) : NaN;
  const now = serverDate ? Date.parse(serverDate) : fallbackNow;
  if (Number.isNaN(written) || Number.isNaN(now)) return 0;
  // The Date header has whole seconds: the row may look up to a second younger than it is, never older.
  return now - written;
}

export type LeaseVerdict = { free: true; why: 'absent' | 'ours' | 'released' | 'expired' | 'dead-process' } | { free: false };

/**
 * Whether this process wrote the lease row for `runId`: a write of ours whose answer was lost (the SDK's retry, or the
 * run trying its start again). The run id alone is not enough: a run request delivered twice (the queue's redelivery)
 * runs with the same id, in another process, beside the first.
 */
export function writtenBy(row: Readonly<Record<string, unknown>> | undefined, runId: string, process: ProcessIdentity): boolean {
  return row?.runId === runId && row.host === process.host && Number(row.pid) === process.pid && String(row.pidStart ?? '') === process.pidStart;
}

/** Whether a lease row lets `runId` take the lease now. */
export function judgeLease(
  row: { runId?: unknown; host?: unknown; pid?: unknown; pidStart?: unknown; releasedAt?: unknown; timestamp?: unknown } | undefined,
  options: { runId: string; leaseMs: number; serverDate?: string | null; now: number; process: ProcessIdentity },
): LeaseVerdict {
  if (!row) return { free: true, why: 'absent' };
  if (writtenBy(row, options.runId, options.process)) return { free: true, why: 'ours' };
  if (typeof row.releasedAt === 'string' && row.releasedAt !== '') return { free: true, why: 'released' };
  // One second of slack for the Date header's resolution.
  if (leaseAgeMs(row.timestamp, options.serverDate, options.now) > options.leaseMs + 1000) return { free: true, why: 'expired' };
  const pid = Number(row.pid);
  if (row.host === options.process.host && Number.isInteger(pid) && pid > 0 && !options.process.isAlive(pid, String(row.pidStart ?? ''))) {
    return { free: true, why: 'dead-process' };
  }
  return { free: false };
}

import { judgeLease, leaseAgeMs, thisProcess, type ProcessIdentity } from '../../src/store/lease';

const LEASE = 120_000;
const server = (ms: number) => new Date(ms).toUTCString();
const T = Date.parse('2026-11-30T12:00:00Z');

/** A host where the given pids are alive, each started at the given time. */
const host = (alive: Record<number, string>): ProcessIdentity => ({
  host: 'vm-a',
  pid: 1,
  pidStart: '1',
  isAlive: (pid, pidStart) => pid in alive && (pidStart === '' || alive[pid] === pidStart),
});
const row = (extra: Record<string, unknown>) => ({
  runId: 'other',
  host: 'vm-a',
  pid: 4242,
  pidStart: '777',
  releasedAt: '',
  timestamp: new Date(T).toISOString(),
  ...extra,
});

describe('the lease', () => {
  it("is judged on Table Storage's clock alone: the row's Timestamp against the Date of the answer", () => {
    const options = { runId: 'me', leaseMs: LEASE, process: host({ 4242: '777' }) };
    // Our own clock says the lease ran out long ago, or has hours to go: it does not matter.
    for (const now of [T + 10 * LEASE, T - 3_600_000]) {
      expect(judgeLease(row({}), { ...options, now, serverDate: server(T + 60_000) })).toEqual({ free: false });
      expect(judgeLease(row({}), { ...options, now, serverDate: server(T + LEASE + 5_000) })).toEqual({ free: true, why: 'expired' });
    }
    expect(leaseAgeMs(new Date(T).toISOString(), server(T + 90_000), 0)).toBe(90_000);
  });

  it('of a process of this host that no longer exists is free at once; a reused pid is not taken for the holder', () => {
    const options = { runId: 'me', leaseMs: LEASE, now: T, serverDate: server(T + 1000) };
    expect(judgeLease(row({}), { ...options, process: host({}) })).toEqual({ free: true, why: 'dead-process' });
    // pid 4242 is alive, but it is another process: it started at another time.
    expect(judgeLease(row({}), { ...options, process: host({ 4242: '999' }) })).toEqual({ free: true, why: 'dead-process' });
    expect(judgeLease(row({}), { ...options, process: host({ 4242: '777' }) })).toEqual({ free: false });
    // Another host's process can not be looked at: its lease runs out as before.
    expect(judgeLease(row({ host: 'vm-b' }), { ...options, process: host({}) })).toEqual({ free: false });
  });

  it('released, or our own, or absent: free', () => {
    const options = { runId: 'me', leaseMs: LEASE, now: T, serverDate: server(T + 1000), process: host({ 4242: '777' }) };
    expect(judgeLease(row({ releasedAt: new Date(T).toISOString() }), options)).toEqual({ free: true, why: 'released' });
    // Written by this process (host vm-a, pid 1 started at 1) for this run: a write whose answer was lost.
    expect(judgeLease(row({ runId: 'me', pid: 1, pidStart: '1' }), options)).toEqual({ free: true, why: 'ours' });
    expect(judgeLease(undefined, options)).toEqual({ free: true, why: 'absent' });
  });

  it("with our run id but another process's is not ours: a run request delivered twice runs beside the first", () => {
    const options = { runId: 'me', leaseMs: LEASE, now: T, serverDate: server(T + 1000), process: host({ 4242: '777' }) };
    expect(judgeLease(row({ runId: 'me' }), options)).toEqual({ free: false });
    expect(judgeLease(row({ runId: 'me', host: 'vm-b', pid: 1, pidStart: '1' }), options)).toEqual({ free: false });
    // The same pid of this host, started at another time: another process, and it is gone.
    expect(judgeLease(row({ runId: 'me', pid: 1, pidStart: '2' }), { ...options, process: host({ 4242: '777' }) })).toEqual({
      free: true,
      why: 'dead-process',
    });
    // Expired all the same.
    expect(judgeLease(row({ runId: 'me' }), { ...options, serverDate: server(T + LEASE + 5_000) })).toEqual({ free: true, why: 'expired' });
  });

  it('this process knows its own start (Linux): a lease it holds is alive', () => {
    expect(thisProcess.pid).toBe(process.pid);
    if (process.platform === 'linux') expect(thisProcess.pidStart).toMatch(/^\d+$/);
    expect(thisProcess.isAlive(process.pid, thisProcess.pidStart)).toBe(true);
    expect(thisProcess.isAlive(process.pid, '1')).toBe(process.platform !== 'linux');
  });
});

/**
 * HTTP load at a fixed rate, open loop: request i is due at start + i / rate, whether or not the answers before it
 * have come, and its latency counts from when it was due, not from when it went out. A server (or a client) that
 * stalls is charged for every request that had to wait meanwhile, which is the honest correction for coordinated
 * omission (as wrk2 does it).
 *
 * Why not autocannon's `overallRate`: each of its connections sends its share of a second (20 of 200) back to back
 * from the start of every second, each as soon as the answer before it has come, then pauses until the next second,
 * so the requests of a second come as 10 chains at once at its start, queueing behind one another in the server; and
 * its correction assumes one request per millisecond on each connection (`1 / rate` taken for milliseconds), so every
 * answer slower than 1 ms also adds that many shorter ones. Against the same host, idle, it reported /api/snapshot
 * p99 27 ms where requests spread over the second saw 8 ms.
 */
import http from 'node:http';
import https from 'node:https';

export interface FixedRateOptions {
  url: string;
  /** Requests per second, all connections together. */
  rate: number;
  seconds: number;
  /** Keep-alive connections at most; a request due while all are busy waits for one (and that wait counts). */
  connections?: number;
  /** A request not answered this long after it was due counts as a timeout (ms). */
  timeoutMs?: number;
}

export interface Percentiles {
  avg: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface FixedRateResult {
  /** Requests sent: rate x seconds. */
  requests: number;
  /** From when each answered request was due to the end of its answer (ms); failed requests are counted below, not here. */
  latencyMs: Percentiles;
  /** How late the generator itself let requests go (ms): large figures mean the load generator, not the server, was slow. */
  sendLagMs: Percentiles;
  /** Connection errors (refused, reset), timeouts, and answers other than 2xx (answered, so also in `latencyMs`). */
  errors: number;
  timeouts: number;
  non2xx: number;
  statuses: Record<string, number>;
}

export async function fixedRateLoad(options: FixedRateOptions): Promise<FixedRateResult> {
  const { url, rate, seconds } = options;
  if (!(rate > 0) || !(seconds > 0)) throw new RangeError(`fixedRateLoad: rate and seconds must be positive (got ${rate}, ${seconds})`);
  const total = Math.round(rate * seconds);
  if (total < 1) throw new RangeError(`fixedRateLoad: ${rate} requests/s for ${seconds} s is no request`);
  const client = new URL(url).protocol === 'https:' ? https : http;
  const agent = new client.Agent({ keepAlive: true, maxSockets: options.connections ?? 10 });
  const timeoutMs = options.timeoutMs ?? 10_000;
  const latencies: number[] = [];
  const sendLags: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let timeouts = 0;
  let settled = 0;

  try {
    await new Promise<void>((resolve) => {
      const settle = () => {
        if (++settled === total) resolve();
      };
      const send = (due: number) => {
        sendLags.push(performance.now() - due);
        let done = false;
        let status: string | undefined;
        const finish = (outcome: 'answered' | 'error' | 'timeout') => {
          if (done) return;
          done = true;
          clearTimeout(deadline);
          if (outcome === 'answered') {
            latencies.push(performance.now() - due);
            statuses[status!] = (statuses[status!] ?? 0) + 1;
          } else if (outcome === 'timeout') timeouts++;
          else errors++;
          settle();
        };
        const request = client.get(url, { agent }, (response) => {
          status = String(response.statusCode);
          response.resume();
          response.on('end', () => finish('answered'));
          response.on('error', () => finish('error'));
        });
        // From when the request was due, so the time it waited for a free connection counts too.
        const deadline = setTimeout(
          () => {
            finish('timeout');
            request.destroy();
          },
          Math.max(0, due + timeoutMs - performance.now()),
        );
        request.on('error', () => finish('error'));
      };
      const start = performance.now();
      const dueAt = (i: number) => start + (i * 1000) / rate;
      let next = 0;
      const tick = () => {
        const now = performance.now();
        for (; next < total && dueAt(next) <= now; next++) send(dueAt(next));
        if (next < total) setTimeout(tick, Math.max(0, dueAt(next) - performance.now()));
      };
      tick();
    });
  } finally {
    agent.destroy();
  }
  const non2xx = Object.entries(statuses)
    .filter(([status]) => !status.startsWith('2'))
    .reduce((sum, [, count]) => sum + count, 0);
  return { requests: total, latencyMs: percentiles(latencies), sendLagMs: percentiles(sendLags), errors, timeouts, non2xx, statuses };
}

/** Nearest-rank percentiles, rounded to 0.1 ms; NaN for no values. */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => (sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!);
  const round = (v: number) => Math.round(v * 10) / 10;
  const avg = sorted.length === 0 ? NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { avg: round(avg), p50: round(rank(50)), p90: round(rank(90)), p99: round(rank(99)), max: round(sorted[sorted.length - 1] ?? NaN) };
}

import type { RetryEvent } from './graphReader';

/** One line per retry, for the log: `riskDetections: Graph answered 429, retry 2 in 4.1 s`. */
export function describeRetry(collection: string, event: RetryEvent): string {
  let what: string;
  if (event.status > 0) what = `Graph answered ${event.status}${event.status === 429 ? '' : ` ${event.code}`}`;
  else if (event.code === 'GraphAuthenticationError') what = `no token yet (${event.reason ?? 'the credential failed'})`;
  else what = `no answer from Graph (${event.reason ?? event.code})`;
  const delay = event.delayMs < 100 ? `${event.delayMs} ms` : `${(event.delayMs / 1000).toFixed(1)} s`;
  return `${collection}: ${what}, retry ${event.attempt} in ${delay}`;
}

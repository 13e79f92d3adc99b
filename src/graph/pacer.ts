/**
 * Spaces out Graph requests so that all collections of one tenant together stay under the tenant's budget
 * (Identity Protection allows 1 request/s per tenant for all apps). One pacer per tenant for the whole process.
 */
export class Pacer {
  private nextSlot = 0;
  readonly intervalMs: number;

  /** `margin` keeps us just under the budget, so clock jitter on either side does not cost a 429. */
  constructor(requestsPerSecond: number, margin = 0.03) {
    this.intervalMs = (1000 / requestsPerSecond) * (1 + margin);
  }

  /** Resolves when the caller may send its request; each call takes the next free slot. */
  async acquire(signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + this.intervalMs;
    if (slot > now) await sleep(slot - now, signal);
  }

  /** Holds every caller back until `until` (ms epoch): after a 429 or a Retry-After, the whole tenant waits. */
  holdUntil(until: number): void {
    this.nextSlot = Math.max(this.nextSlot, until);
  }
}

const pacers = new Map<string, Pacer>();

/** The process-wide pacer of a tenant and budget. */
export function pacerFor(tenantId: string, requestsPerSecond: number): Pacer {
  const key = `${tenantId.toLowerCase()}@${requestsPerSecond}`;
  let pacer = pacers.get(key);
  if (!pacer) {
    pacer = new Pacer(requestsPerSecond);
    pacers.set(key, pacer);
  }
  return pacer;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const WIDENING_STEP = 0.02;
const MAX_WIDENING = 1.1;
const NARROW_AFTER = 50;

/**
 * Spaces out Graph requests so that all collections of one tenant together stay under the tenant's budget
 * (Identity Protection allows 1 request/s per tenant for all apps). One pacer per tenant and budget for the whole
 * process (see Pacers).
 */
export class Pacer {
  private nextSlot = 0;
  /** When the last request was actually let go: a caller whose timer fired late pushes the next one back. */
  private lastSentAt = -Infinity;
  private readonly baseIntervalMs: number;
  /** The interval in force: the base one, widened after a throttle (see throttled) and narrowed back as requests pass. */
  private currentIntervalMs: number;
  private passedSinceWidened = 0;
  /** A request on a connection that may be new (first of the process, or after an idle spell) still in flight. */
  private coldRequest?: Promise<void>;
  private lastSettledAt = -Infinity;
  private warmRttMs?: number;

  /** `margin` keeps us just under the budget, so clock jitter on either side does not cost a 429. */
  constructor(
    requestsPerSecond: number,
    margin = 0.015,
    private readonly idleMs = 4000,
  ) {
    this.baseIntervalMs = (1000 / requestsPerSecond) * (1 + margin);
    this.currentIntervalMs = this.baseIntervalMs;
  }

  get intervalMs(): number {
    return this.currentIntervalMs;
  }

  /**
   * A 429 from the tenant's budget although we kept the interval: requests reach Graph less evenly than we send them
   * (a busy machine, a slow network), so each one costs a backoff of seconds. Widen the interval by 2 % of the budget,
   * up to 10 %; every 50 requests that pass narrow it by one step again, down to the base margin.
   */
  throttled(): void {
    this.currentIntervalMs = Math.min(this.baseIntervalMs * MAX_WIDENING, this.currentIntervalMs + this.baseIntervalMs * WIDENING_STEP);
    this.passedSinceWidened = 0;
  }

  /**
   * Resolves when the caller may send its request; each call takes the next free slot. Call the returned function
   * when the answer (or a failure) arrives.
   *
   * Graph counts a request when it arrives. On a warm connection that is a steady moment after we send it; on a new
   * one the TLS handshake (and a token fetch) can delay it by a good part of the interval, so the request after it
   * would arrive too soon. A "cold" request therefore holds the others back until it is answered, and the next slot
   * counts from then.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    while (this.coldRequest) await this.coldRequest;
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + this.currentIntervalMs;
    if (slot > now) await sleep(slot - now, signal);
    // Slots are taken ahead; if the request before this one went late (its timer fired late on a busy event loop),
    // keep the full interval from when it actually went.
    while (Date.now() < this.lastSentAt + this.currentIntervalMs) await sleep(this.lastSentAt + this.currentIntervalMs - Date.now(), signal);
    const sentAt = Date.now();
    this.lastSentAt = sentAt;
    this.nextSlot = Math.max(this.nextSlot, sentAt + this.currentIntervalMs);
    const cold = this.warmRttMs === undefined || sentAt - this.lastSettledAt > this.idleMs;
    let release = () => undefined as void;
    if (cold) this.coldRequest = new Promise<void>((resolve) => (release = resolve));
    let settled = false;
    return () => {
      if (settled) return;
      settled = true;
      const answeredAt = Date.now();
      this.lastSettledAt = answeredAt;
      if (this.currentIntervalMs > this.baseIntervalMs && ++this.passedSinceWidened >= NARROW_AFTER) {
        this.currentIntervalMs = Math.max(this.baseIntervalMs, this.currentIntervalMs - this.baseIntervalMs * WIDENING_STEP);
        this.passedSinceWidened = 0;
      }
      if (!cold) {
        this.warmRttMs = Math.min(this.warmRttMs!, answeredAt - sentAt);
        return;
      }
      this.holdUntil(answeredAt + this.currentIntervalMs - (this.warmRttMs ?? 0));
      this.warmRttMs ??= Infinity;
      this.coldRequest = undefined;
      release();
    };
  }

  /** Holds every caller back until `until` (ms epoch): after a 429 or a Retry-After, the whole tenant waits. */
  holdUntil(until: number): void {
    this.nextSlot = Math.max(this.nextSlot, until);
  }
}

/**
 * The pacers of one process, one per tenant and Graph budget (collections that draw on the same budget share it). The
 * composition root (the Functions app, the CLI, the local host) makes one and hands it to every reader it builds.
 */
export class Pacers {
  private readonly pacers = new Map<string, Pacer>();

  constructor(private readonly requestsPerSecond: number) {}

  for(tenantId: string, budget: string): Pacer {
    const key = `${tenantId.toLowerCase()}/${budget}`;
    let pacer = this.pacers.get(key);
    if (!pacer) this.pacers.set(key, (pacer = new Pacer(this.requestsPerSecond)));
    return pacer;
  }
}

/** A timer that an abort cuts short (rejecting with the signal's reason). */
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

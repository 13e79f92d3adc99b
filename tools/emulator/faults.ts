import type { CollectionName } from './model.js';
import { Prng } from './prng.js';

interface FaultScope {
  /** Which listener: the Graph API (default) or the managed-identity token endpoint. */
  target?: 'graph' | 'token';
  /** Graph only: fault only requests that carry a `$skiptoken` (next links). */
  nextLinkOnly?: boolean;
  /** Graph only: fault only requests for this collection (`riskyUsers/history` for any user's history). */
  collection?: CollectionName;
  /** Serve this fault this many times, then drop it (default: until cleared). */
  count?: number;
  /** Fault a matching request with this probability (default 1), drawn from the emulator's seeded PRNG. */
  probability?: number;
  /** Drop this fault this long after it was added. */
  durationMs?: number;
}

export type FaultSpec = FaultScope &
  (
    | {
        /** Answer with this status and a Graph-shaped error (the token endpoint answers App Service's shape). */
        kind: 'status';
        status: number;
        /** Adds a Retry-After header (seconds). */
        retryAfterSeconds?: number;
        /** Error code in the body; defaults from the status (ServiceUnavailable, GatewayTimeout, ...). */
        code?: string;
      }
    /** Destroy the socket without answering. */
    | { kind: 'reset' }
    /** Answer normally, after a delay. */
    | { kind: 'slow'; delayMs: number }
    /**
     * Answer 200 with the first `fraction` (default 0.5) of the real JSON body. By default Content-Length matches
     * the cut body (the client gets a complete response that is not valid JSON); with `declareFullLength` the
     * full length is announced and the socket is destroyed after the partial body.
     */
    | { kind: 'truncate'; fraction?: number; declareFullLength?: boolean }
  );

export type FaultKind = FaultSpec['kind'];

export interface ActiveFault {
  id: number;
  spec: FaultSpec;
  remaining: number;
  expiresAt: number;
}

export interface FaultRequest {
  target: 'graph' | 'token';
  nextLink: boolean;
  collection?: CollectionName;
}

/** Faults switchable at run time; probabilities come from a seeded PRNG, so a run is reproducible. */
export class FaultController {
  private faults: ActiveFault[] = [];
  private nextId = 1;
  private readonly rng: Prng;

  constructor(seed: number | string) {
    this.rng = new Prng(`${seed}:faults`);
  }

  /** Adds a fault; returns its id (for remove). Faults are tried in the order they were added. */
  add(spec: FaultSpec): number {
    validate(spec);
    const id = this.nextId++;
    this.faults.push({
      id,
      spec: { ...spec },
      remaining: spec.count ?? Infinity,
      expiresAt: spec.durationMs === undefined ? Infinity : performance.now() + spec.durationMs,
    });
    return id;
  }

  remove(id: number): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length !== before;
  }

  clear(): void {
    this.faults = [];
  }

  list(): FaultSpec[] {
    this.dropFinished();
    return this.faults.map((f) => ({ ...f.spec }));
  }

  /** The fault to serve for this request, if any (and counts it as served). */
  take(request: FaultRequest): FaultSpec | undefined {
    this.dropFinished();
    for (const fault of this.faults) {
      const { spec } = fault;
      if ((spec.target ?? 'graph') !== request.target) continue;
      if (request.target === 'graph') {
        if (spec.nextLinkOnly && !request.nextLink) continue;
        if (spec.collection && spec.collection !== request.collection) continue;
      }
      if (spec.probability !== undefined && !this.rng.chance(spec.probability)) continue;
      fault.remaining--;
      this.dropFinished();
      return spec;
    }
    return undefined;
  }

  private dropFinished(): void {
    const now = performance.now();
    this.faults = this.faults.filter((f) => f.remaining > 0 && f.expiresAt > now);
  }
}

function validate(spec: FaultSpec): void {
  const fail = (message: string): never => {
    throw new RangeError(`Invalid fault ${JSON.stringify(spec)}: ${message}`);
  };
  if (spec.count !== undefined && !(Number.isInteger(spec.count) && spec.count > 0)) fail('count must be a positive integer');
  if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) fail('probability must be in [0, 1]');
  if (spec.durationMs !== undefined && !(spec.durationMs > 0)) fail('durationMs must be positive');
  if (spec.target !== undefined && spec.target !== 'graph' && spec.target !== 'token') fail("target must be 'graph' or 'token'");
  switch (spec.kind) {
    case 'status':
      if (!(Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 599)) fail('status must be 400..599');
      if (spec.retryAfterSeconds !== undefined && !(Number.isInteger(spec.retryAfterSeconds) && spec.retryAfterSeconds >= 0)) {
        fail('retryAfterSeconds must be a non-negative integer');
      }
      break;
    case 'slow':
      if (!(spec.delayMs >= 0)) fail('delayMs must be >= 0');
      break;
    case 'truncate':
      if (spec.fraction !== undefined && !(spec.fraction >= 0 && spec.fraction < 1)) fail('fraction must be in [0, 1)');
      break;
    case 'reset':
      break;
    default:
      fail('kind must be status, reset, slow or truncate');
  }
}

export interface ThrottlingSettings {
  enabled: boolean;
  /** Requests per second for the whole tenant (Identity Protection's budget is 1). */
  rps: number;
}

/**
 * The tenant's request budget: a request arriving less than 1000/rps ms after the previous accepted one is
 * refused. Refused requests do not move the window. `toleranceMs` (default 5) forgives timer jitter, so a client
 * that waits exactly 1000/rps ms with setTimeout is not refused because its timer fired a little early.
 */
export class Throttle {
  private lastAccepted = -Infinity;
  private settings: ThrottlingSettings;

  constructor(
    settings: ThrottlingSettings,
    private readonly toleranceMs = 5,
  ) {
    this.settings = validated(settings);
  }

  get current(): ThrottlingSettings {
    return { ...this.settings };
  }

  /** Changes the settings and starts a fresh window (the next request is accepted). */
  set(settings: Partial<ThrottlingSettings>): void {
    this.settings = validated({ ...this.settings, ...settings });
    this.lastAccepted = -Infinity;
  }

  /** True if the request is within budget (and consumes it). */
  tryAccept(now = performance.now()): boolean {
    if (this.settings.enabled && now - this.lastAccepted < 1000 / this.settings.rps - this.toleranceMs) return false;
    this.lastAccepted = now;
    return true;
  }
}

function validated(settings: ThrottlingSettings): ThrottlingSettings {
  if (!(Number.isFinite(settings.rps) && settings.rps > 0)) throw new RangeError(`rps must be a positive number, got ${settings.rps}`);
  return { enabled: Boolean(settings.enabled), rps: settings.rps };
}

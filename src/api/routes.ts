import type { Settings } from '../config/settings';
import type { HttpFunction } from '../app/functions';

/** The HTTP functions of the snapshot API (filled in by the API module). */
export function httpFunctions(_settings: Settings): HttpFunction[] {
  return [];
}

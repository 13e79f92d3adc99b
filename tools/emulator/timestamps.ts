/**
 * The emulator reads and prints timestamps with the product's own parser (src/domain/datetime.ts), so the two can
 * never disagree on what a DateTimeOffset is.
 */
export { formatTicks, graphText, normalizeDateTime, ticksOf, ticksOfDate } from '../../src/domain/datetime';

/** CPU time of another process (Azurite), from /proc (Linux; undefined elsewhere). */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/<pid>/stat counts in clock ticks, 100 per second on Linux. */
const TICK_MS = 10;

export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: the fields after it start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime (fields 14 and 15)
  } catch {
    return undefined;
  }
}

/** CPU time of this process so far (ms). */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

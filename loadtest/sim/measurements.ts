import { readFileSync } from 'node:fs';

/** Percentiles of a sample (nearest-rank), in the sample's unit. */
export interface Distribution {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p100: number;
}

export function distribution(values: number[]): Distribution {
  if (!values.length) return { count: 0, p50: 0, p90: 0, p99: 0, p100: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), p100: sorted[sorted.length - 1] ?? 0 };
}

/** CPU time (user + system, seconds) and resident memory (bytes) of a process, from /proc. */
export interface ProcessUsage {
  cpuSeconds: number;
  rssBytes: number;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

export function processUsage(pid: number): ProcessUsage {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return { cpuSeconds: (utime + stime) / CLOCK_TICKS, rssBytes: rssKb * 1024 };
}

/**
 * Server CPU per answered checkin over `windowMs`: the process's CPU time divided by the checkins
 * a simulator saw answered in that window.
 */
export async function cpuPerCheckin(pid: number, sim: { checkinsDone: number }, windowMs: number): Promise<{ perSecond: number; microseconds: number }> {
  const c0 = { usage: processUsage(pid), done: sim.checkinsDone };
  await new Promise((r) => setTimeout(r, windowMs));
  const c1 = { usage: processUsage(pid), done: sim.checkinsDone };
  const checkins = c1.done - c0.done;
  return { perSecond: checkins / (windowMs / 1000), microseconds: ((c1.usage.cpuSeconds - c0.usage.cpuSeconds) / checkins) * 1e6 };
}

/** Sum over several processes (the gateway tier). */
export function tierUsage(pids: number[]): ProcessUsage {
  return pids.map(processUsage).reduce((a, b) => ({ cpuSeconds: a.cpuSeconds + b.cpuSeconds, rssBytes: a.rssBytes + b.rssBytes }), { cpuSeconds: 0, rssBytes: 0 });
}

/** Counts of failures by HTTP status (or error code when there was no answer). */
export class ErrorTally {
  private readonly counts = new Map<string, number>();
  add(key: string | number): void {
    const k = String(key);
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }
  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
  /** The failures added since `before` (an earlier toJSON()). */
  since(before: Record<string, number>): Record<string, number> {
    return Object.fromEntries(Object.entries(this.toJSON()).flatMap(([k, v]) => (v > (before[k] ?? 0) ? [[k, v - (before[k] ?? 0)]] : [])));
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort());
  }
}

/**
 * A series' value from a Prometheus endpoint (the first line of that name), or 0. A scrape can fail
 * while the server is saturated (a reset kept-alive socket): it is tried again on a new
 * connection, a few times.
 */
export async function scrapeMetric(metricsUrl: string, name: string): Promise<number> {
  let text: string;
  for (let attempt = 0; ; attempt++) {
    try {
      text = await (await fetch(metricsUrl, { headers: { Connection: 'close' } })).text();
      break;
    } catch (err) {
      if (attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

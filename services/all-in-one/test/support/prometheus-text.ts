/**
 * The value of the first series of `name` that carries every given label, in Prometheus' text
 * format (e.g. `fleet_checkins_total{outcome="delivered",service="fleet-server"} 2`); undefined
 * when there is none.
 */
export function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && wanted.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

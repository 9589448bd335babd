/**
 * The registry's counters, rendered in Prometheus' text exposition format at /metrics. Labels are the route
 * kind (never the repository or a digest: those would make the series unbounded), the method and the status.
 */
const BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export class RegistryMetrics {
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, Histogram>();
  private readonly counters = new Map<string, { help: string; value: number }>();
  private inFlight = 0;

  constructor(private readonly startedAt = Date.now()) {
    this.define('wharf_http_response_bytes_total', 'Bytes sent in response bodies.');
    this.define('wharf_http_request_bytes_total', 'Bytes received in request bodies that were stored.');
    this.define('wharf_blobs_mounted_total', 'Cross-repository mounts performed.');
    this.define('wharf_gc_runs_total', 'Garbage collections completed.');
    this.define('wharf_gc_deleted_blobs_total', 'Blobs removed by garbage collection.');
    this.define('wharf_gc_deleted_bytes_total', 'Bytes freed by garbage collection.');
    this.define('wharf_gc_deleted_manifests_total', 'Untagged manifests removed by garbage collection.');
  }

  private define(name: string, help: string): void {
    this.counters.set(name, { help, value: 0 });
  }

  add(name: string, by: number): void {
    const c = this.counters.get(name);
    if (c) c.value += by;
  }

  started(): void {
    this.inFlight++;
  }

  finished(method: string, route: string, status: number, seconds: number): void {
    this.inFlight--;
    const key = `method="${method}",route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const hkey = `route="${route}"`;
    let h = this.durations.get(hkey);
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.durations.set(hkey, h);
    }
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.counts[i]!++;
    });
    h.sum += seconds;
    h.count++;
  }

  render(now = Date.now()): string {
    const lines: string[] = [];
    lines.push('# HELP wharf_http_requests_total HTTP requests answered.', '# TYPE wharf_http_requests_total counter');
    for (const [labels, n] of this.requests) lines.push(`wharf_http_requests_total{${labels}} ${n}`);
    lines.push('# HELP wharf_http_request_duration_seconds Time to answer a request.', '# TYPE wharf_http_request_duration_seconds histogram');
    for (const [labels, h] of this.durations) {
      BUCKETS.forEach((b, i) => lines.push(`wharf_http_request_duration_seconds_bucket{${labels},le="${b}"} ${h.counts[i]}`));
      lines.push(`wharf_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
      lines.push(`wharf_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
      lines.push(`wharf_http_request_duration_seconds_count{${labels}} ${h.count}`);
    }
    lines.push('# HELP wharf_http_requests_in_flight Requests being answered now.', '# TYPE wharf_http_requests_in_flight gauge');
    lines.push(`wharf_http_requests_in_flight ${this.inFlight}`);
    for (const [name, c] of this.counters) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`, `${name} ${c.value}`);
    }
    lines.push('# HELP wharf_uptime_seconds Seconds since the server started.', '# TYPE wharf_uptime_seconds gauge');
    lines.push(`wharf_uptime_seconds ${Math.floor((now - this.startedAt) / 1000)}`);
    return `${lines.join('\n')}\n`;
  }
}

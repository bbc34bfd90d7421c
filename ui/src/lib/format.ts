// Words and numbers as the panel shows them.

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A duration as people read it: "850 ms", "12 s", "3 min 05 s", "2 h 04 min". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, "0")} min`;
}

/** The share done, 0–100, of a byte count whose total may be unknown. */
export function percent(done: number, total: number | null): number | null {
  if (total === null || total <= 0) return null;
  return Math.min(100, Math.max(0, (done / total) * 100));
}

/** The last part of a path, for a tile's caption. */
export function fileName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

export function stageLabel(stage: string): string {
  const labels: Record<string, string> = {
    request_sent: "sending the request",
    waiting: "waiting for the AI provider",
    receiving: "receiving the image",
    post_processing: "post-processing",
  };
  return labels[stage] ?? stage;
}

/** Money in the providers' unit, two decimals. */
export function money(n: number): string {
  return n.toFixed(2);
}

export function stateLabel(state: string, awaitingReview = false): string {
  if (awaitingReview) return "to review";
  return state === "processing" ? "working" : state;
}

// Performance marks the end-to-end test reads over WebDriver: when a drop
// happened and when each preview was painted, and the page's frame times.

export function markDrop(): void {
  performance.mark("outbox:drop");
}

/**
 * Marks a preview as painted: the frame after its `load` draws it, and a task
 * queued from that frame's callback runs once the frame is done — right after
 * the paint, not a whole frame later as a second `requestAnimationFrame` would.
 */
export function markPainted(name: string): void {
  requestAnimationFrame(() => {
    const afterPaint = new MessageChannel();
    afterPaint.port1.onmessage = () => performance.mark(name);
    afterPaint.port2.postMessage(null);
  });
}

/** Frame intervals sampled with requestAnimationFrame while `running`. */
export class FrameSampler {
  private frames: number[] = [];
  private last = 0;
  private running = false;

  start(): void {
    this.frames = [];
    this.last = 0;
    this.running = true;
    const step = (t: number) => {
      if (!this.running) return;
      if (this.last > 0) this.frames.push(t - this.last);
      this.last = t;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  stop(): number[] {
    this.running = false;
    return this.frames.slice();
  }
}

/** The value below which `p` (0–1) of the samples fall (nearest rank). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = samples.slice().sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

// Performance marks the end-to-end test reads over WebDriver: when a drop
// happened and when each preview was painted, and the page's frame times.

export function markDrop(): void {
  performance.mark("outbox:drop");
}

/**
 * Runs `then` once the current frame is painted: called from an animation
 * frame callback, a zero-delay timer runs after the frame's style, layout and
 * paint. (A MessageChannel message was tried: WebKit routes it through
 * another process, and under load it arrived frames late.)
 */
function afterThisFrame(then: () => void): void {
  window.setTimeout(then, 0);
}

/**
 * Marks a preview as painted: the frame after its `load` draws it — right
 * after that paint, not a whole frame later as a second
 * `requestAnimationFrame` would.
 */
export function markPainted(name: string): void {
  requestAnimationFrame(() => afterThisFrame(() => performance.mark(name)));
}

/** What the sampler saw of each frame, in milliseconds. */
export interface FrameSamples {
  /** From one frame's start to the next's: 16.7 at best on a 60 Hz clock. */
  intervals: number[];
  /**
   * The page's own work for each frame: from its start (the animation-frame
   * timestamp, taken before scroll events, animation callbacks, style, layout
   * and paint) to a timer queued from its callback, which runs once the frame
   * is painted and any task queued before it has run.
   */
  work: number[];
}

/** Frame intervals and each frame's work, sampled while `running`. */
export class FrameSampler {
  private samples: FrameSamples = { intervals: [], work: [] };
  private last = 0;
  private running = false;

  start(): void {
    this.samples = { intervals: [], work: [] };
    this.last = 0;
    this.running = true;
    const step = (t: number) => {
      if (!this.running) return;
      if (this.last > 0) this.samples.intervals.push(t - this.last);
      this.last = t;
      afterThisFrame(() => {
        if (this.running) this.samples.work.push(performance.now() - t);
      });
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  stop(): FrameSamples {
    this.running = false;
    return this.samples;
  }
}

// One bar for everything in flight, with bytes per second and time left.

import { h, setText } from "../lib/dom";
import { bytes, duration } from "../lib/format";
import { overall, Rate } from "../lib/overall";
import type { BatchView, JobId } from "../lib/types";

export class OverallProgress {
  readonly el: HTMLElement;
  private readonly bar: HTMLProgressElement;
  private readonly text: HTMLElement;
  private readonly rate = new Rate();
  private batches: BatchView[] = [];

  constructor() {
    this.bar = h("progress", { max: 1, value: 0, "aria-label": "Everything in flight" });
    this.text = h("span", { class: "muted" });
    this.el = h("div", { class: "overall", hidden: true }, this.bar, this.text);
  }

  show(batches: BatchView[], inFlight: Set<JobId>, now: number): void {
    this.batches = batches;
    this.rate.keepOnly(inFlight);
    this.render(now);
  }

  bytesSent(job: JobId, sent: number, now: number): void {
    this.rate.sent(now, job, sent);
  }

  render(now: number): void {
    const o = overall(this.batches);
    this.el.hidden = o === null;
    if (!o) return;
    this.bar.max = Math.max(1, o.total);
    this.bar.value = o.done;
    const speed = this.rate.perSecond(now);
    const parts = [`${o.done} of ${o.total} done`];
    if (speed > 0) parts.push(`${bytes(Math.round(speed))}/s`);
    if (o.etaMs !== null) parts.push(`about ${duration(o.etaMs)} left`);
    setText(this.text, parts.join(" · "));
  }
}

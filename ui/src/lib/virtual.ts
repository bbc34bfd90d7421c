// The rows a virtualised list draws: only those in view, plus a margin, so
// 20,000 jobs cost the same as 30.

export interface Window {
  /** First row drawn. */
  start: number;
  /** One past the last row drawn. */
  end: number;
  /** Pixels above the first drawn row. */
  offset: number;
}

export function visibleRows(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  total: number,
  overscan = 6,
): Window {
  if (total <= 0 || rowHeight <= 0) return { start: 0, end: 0, offset: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const shown = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.min(total, Math.max(0, first - overscan));
  const end = Math.min(total, first + shown + overscan);
  return { start, end, offset: start * rowHeight };
}

/** The pages of `size` rows that cover rows [start, end). */
export function pagesFor(start: number, end: number, size: number): number[] {
  if (end <= start) return [];
  const pages: number[] = [];
  for (let p = Math.floor(start / size); p * size < end; p += 1) pages.push(p);
  return pages;
}

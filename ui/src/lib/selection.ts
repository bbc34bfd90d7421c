// Which rows of a virtualised list are selected, the way file managers do
// it: a click selects one row, Ctrl-click toggles one, Shift-click selects
// the range from the last plain or Ctrl click (the anchor). "Select all"
// means every item of the current filter, loaded or not (a filter may hold
// 20,000 jobs), minus those toggled off afterwards.

export interface Identified {
  id: number;
}

export class Selection<T extends Identified> {
  /** Picked one by one or by range: the items as they were when picked. */
  private picked = new Map<number, T>();
  /** Every item of the filter is selected, except `excluded`. */
  private everything = false;
  private excluded = new Set<number>();
  /** Where the next Shift-click range starts. */
  private anchor: number | null = null;

  get all(): boolean {
    return this.everything;
  }

  has(id: number): boolean {
    return this.everything ? !this.excluded.has(id) : this.picked.has(id);
  }

  /** How many are selected, of `total` in the filter. */
  count(total: number): number {
    return this.everything ? Math.max(0, total - this.excluded.size) : this.picked.size;
  }

  /** The first one picked by hand (none when all are selected). */
  first(): T | null {
    if (this.everything) return null;
    for (const item of this.picked.values()) return item;
    return null;
  }

  /** Only this one (a plain click). */
  only(index: number, item: T): void {
    this.clear();
    this.picked.set(item.id, item);
    this.anchor = index;
  }

  /** This one in or out (Ctrl-click, Space). */
  toggle(index: number, item: T): void {
    this.anchor = index;
    if (this.everything) {
      if (!this.excluded.delete(item.id)) this.excluded.add(item.id);
    } else if (!this.picked.delete(item.id)) {
      this.picked.set(item.id, item);
    }
  }

  /**
   * The range from the anchor to `index` (Shift-click, Shift+arrow), in
   * place of what was selected. Rows not loaded are left out: a range is
   * made of rows the user has seen.
   */
  range(index: number, itemAt: (index: number) => T | null): void {
    const from = this.anchor ?? index;
    this.picked = new Map();
    this.everything = false;
    this.excluded.clear();
    const [lo, hi] = from <= index ? [from, index] : [index, from];
    for (let i = lo; i <= hi; i += 1) {
      const item = itemAt(i);
      if (item) this.picked.set(item.id, item);
    }
    this.anchor = from;
  }

  selectAll(): void {
    this.picked = new Map();
    this.everything = true;
    this.excluded.clear();
  }

  clear(): void {
    this.picked = new Map();
    this.everything = false;
    this.excluded.clear();
    this.anchor = null;
  }

  /**
   * The selected items: those picked, or, when all are selected, every item
   * of the filter read with `loadAll` (the selection's snapshot would be
   * partial).
   */
  async items(loadAll: () => Promise<T[]>): Promise<T[]> {
    if (!this.everything) return [...this.picked.values()];
    return (await loadAll()).filter((item) => !this.excluded.has(item.id));
  }
}

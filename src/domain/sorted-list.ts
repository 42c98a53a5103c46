/**
 * A list kept in the order of `compare`, with insertion and removal by binary search. The indexes of a
 * town hold a few thousand entries at most (live work), where this beats a tree in speed and in clarity.
 * Entries that compare equal are the same entry: `add` replaces, `remove` removes.
 */
export class SortedList<T> implements Iterable<T> {
  private readonly items: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  first(): T | undefined {
    return this.items[0];
  }

  at(index: number): T | undefined {
    return this.items[index];
  }

  add(item: T): void {
    const i = this.lowerBound(item);
    if (i < this.items.length && this.compare(this.items[i]!, item) === 0) this.items[i] = item;
    else this.items.splice(i, 0, item);
  }

  remove(item: T): boolean {
    const i = this.lowerBound(item);
    if (i >= this.items.length || this.compare(this.items[i]!, item) !== 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  /** The position of the first entry not before `probe`. */
  lowerBound(probe: T): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.items[mid]!, probe) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.items[Symbol.iterator]();
  }
}

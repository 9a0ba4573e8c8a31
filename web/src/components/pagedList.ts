/**
 * A list the service answers a page at a time (the queue of raised hands, the bans): the pages a
 * manager has asked to see, read again from the first whenever the list changes, and under the
 * list "and N more" with a Show more button that reads the next page.
 */
import { button } from "./notice";

/** One page as the service answered it. */
export interface Page<T> {
  items: readonly T[];
  next: string; // the token of the page after it, "" at the end of the list
  total: number; // how many entries the whole list holds
}

export type ReadPage<T> = (pageToken: string) => Promise<Page<T>>;

export class PagedList<T> {
  private shown: readonly T[] = [];
  private next = "";
  private total = 0;
  private pages = 1;
  // Each look is numbered so that a slow answer never overwrites a newer one.
  private asked = 0;

  get items(): readonly T[] {
    return this.shown;
  }

  get hasMore(): boolean {
    return this.next !== "";
  }

  /** Entries of the list beyond those shown. */
  get remaining(): number {
    return Math.max(0, this.total - this.shown.length);
  }

  /** Reads the pages shown so far again, from the first; false if a newer look overtook it. */
  async again(read: ReadPage<T>): Promise<boolean> {
    const asked = ++this.asked;
    const items: T[] = [];
    let next = "";
    let total = 0;
    for (let page = 0; page < this.pages; page++) {
      const found = await read(next);
      items.push(...found.items);
      ({ next, total } = found);
      if (!next) break;
    }
    if (asked !== this.asked) return false;
    [this.shown, this.next, this.total] = [items, next, total];
    return true;
  }

  /** Reads the page after those shown and adds it; false if there is none or a newer look overtook it. */
  async more(read: ReadPage<T>): Promise<boolean> {
    if (!this.next) return false;
    this.pages++; // a look that starts meanwhile reads this page too
    const asked = ++this.asked;
    const found = await read(this.next);
    if (asked !== this.asked) return false;
    [this.shown, this.next, this.total] = [[...this.shown, ...found.items], found.next, found.total];
    return true;
  }
}

/** What a list shown in part says of the rest: a PagedList, or the audience. */
export interface Remainder {
  readonly hasMore: boolean;
  readonly remaining: number;
}

/** "and N more" with Show more, just after a paged list's element; hidden at the end of the list. */
export class MoreLine {
  private readonly element = document.createElement("p");
  private readonly count = document.createElement("span");

  constructor(list: HTMLElement, showMore: () => Promise<void>) {
    this.element.className = "more";
    this.element.hidden = true;
    this.element.append(this.count, button("Show more", showMore, "show-more"));
    list.after(this.element);
  }

  render(list: Remainder): void {
    this.element.hidden = !list.hasMore;
    this.count.textContent = `and ${list.remaining.toLocaleString("en")} more`;
  }
}

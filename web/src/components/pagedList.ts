/**
 * A list the service answers a page at a time (the queue of raised hands, the bans): the pages a
 * manager has asked to see, read again from the first whenever the list changes, and under the
 * list "and N more" with a Show more button that asks for one page more. Its reads never overlap
 * (StageControls runs them through a Coalesced), so the last answer is always the newest.
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

  /** Reads the pages shown so far again, from the first (and the one more asked for, if any). */
  async again(read: ReadPage<T>): Promise<void> {
    const items: T[] = [];
    let next = "";
    let total = 0;
    for (let page = 0; page < this.pages; page++) {
      const found = await read(next);
      items.push(...found.items);
      ({ next, total } = found);
      if (!next) break;
    }
    [this.shown, this.next, this.total] = [items, next, total];
  }

  /** Asks for the page after those shown, which the next read brings with them; false if there is none. */
  more(): boolean {
    if (!this.next) return false;
    this.pages++;
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

/**
 * A stage manager's view of the audience: how many watch, and for each of them the manager's
 * buttons (the host's Invite, Make moderator, Remove and Remove and ban, or Dismiss moderator; a
 * moderator's Invite, Remove and Remove and ban).
 *
 * A show's audience runs to thousands, and LiveKit tells the page of each arrival and departure,
 * so the list never grows with it: it shows a page of viewers by name (the manager's page size,
 * else AUDIENCE_PAGE), "and N more" with Show more beneath, and once the audience outgrows a page,
 * a box that finds viewers by name. The count is always the whole audience's.
 */
import type { Participant } from "livekit-client";
import { displayName, partOf } from "../show";
import { noneEntry, showEntries } from "./entries";
import { naming } from "./notice";
import { MoreLine } from "./pagedList";

/** Viewers the list shows at first, and adds with each Show more, when the page names no size. */
export const AUDIENCE_PAGE = 100;

const byName = new Intl.Collator(undefined, { sensitivity: "base" });

export class Audience {
  private readonly find = document.createElement("input");
  private readonly more: MoreLine;
  private pages = 1;
  private viewers: readonly Participant[] = [];
  private hands: ReadonlySet<string> = new Set();

  constructor(
    private readonly count: HTMLElement,
    private readonly list: HTMLUListElement,
    private readonly actionsFor: (viewer: Participant) => HTMLElement[],
    private readonly pageSize = AUDIENCE_PAGE,
  ) {
    this.find.type = "search";
    this.find.className = "find-viewer";
    this.find.placeholder = "Find a viewer by name";
    this.find.setAttribute("aria-label", "Find a viewer by name");
    this.find.hidden = true;
    this.find.addEventListener("input", () => {
      this.pages = 1;
      this.show();
    });
    list.before(this.find);
    this.more = new MoreLine(list, async () => {
      this.pages++;
      this.show();
    });
  }

  /** `hands`: the identities whose hand is up, from the hand queue. */
  render(viewers: readonly Participant[], hands: ReadonlySet<string>): void {
    [this.viewers, this.hands] = [viewers, hands];
    this.show();
  }

  private show(): void {
    this.count.textContent = String(this.viewers.length);
    const wanted = this.find.value.trim().toLocaleLowerCase();
    // The box shows once the audience outgrows a page, and stays while it holds a search.
    this.find.hidden = this.viewers.length <= this.pageSize && !wanted;
    const found = wanted ? this.viewers.filter((viewer) => matches(viewer, wanted)) : this.viewers;
    const sorted = [...found].sort((a, b) => byName.compare(displayName(a), displayName(b)));
    const shown = sorted.slice(0, this.pages * this.pageSize);
    const entries = shown.map((viewer) => this.entry(viewer));
    if (wanted && shown.length === 0) entries.push(noneEntry(`Nobody in the audience is called "${this.find.value.trim()}".`));
    showEntries(this.list, entries);
    this.more.render({ hasMore: shown.length < sorted.length, remaining: sorted.length - shown.length });
  }

  private entry(viewer: Participant): HTMLLIElement {
    const item = document.createElement("li");
    item.dataset["identity"] = viewer.identity;
    item.dataset["part"] = partOf(viewer);
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = displayName(viewer);
    if (this.hands.has(viewer.identity)) who.append(mark("hand-up", "hand up"));
    if (partOf(viewer) === "moderator") who.append(mark("moderator", "moderator"));
    item.append(who, ...naming(this.actionsFor(viewer), displayName(viewer)));
    return item;
  }
}

/** Whether `viewer`'s name or identity holds `wanted` (lower case), whatever its case. */
function matches(viewer: Participant, wanted: string): boolean {
  return displayName(viewer).toLocaleLowerCase().includes(wanted) || viewer.identity.toLocaleLowerCase().includes(wanted);
}

function mark(className: string, text: string): HTMLElement {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

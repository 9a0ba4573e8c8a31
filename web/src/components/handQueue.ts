/** The host's queue of raised hands, first raised first, each with a button to invite that viewer;
 * the pages read so far, and "and N more" with Show more when the queue is longer. */
import type { RaisedHand } from "../api";
import { noneEntry, showEntries } from "./entries";
import { button, naming } from "./notice";
import { MoreLine, type PagedList } from "./pagedList";

export class HandQueue {
  private readonly more: MoreLine;

  constructor(
    private readonly element: HTMLOListElement,
    private readonly invite: (identity: string) => Promise<void>,
    showMore: () => Promise<void>,
  ) {
    this.more = new MoreLine(element, showMore);
  }

  /** `allowed` gives an Invite on stage as the stage allows it (disabled while it is full). */
  render(queue: PagedList<RaisedHand>, nameOf: (identity: string) => string, allowed: (invite: HTMLButtonElement) => HTMLButtonElement): void {
    const items = queue.items.map((hand) => {
      const item = document.createElement("li");
      item.dataset["identity"] = hand.identity;
      const who = document.createElement("span");
      who.className = "who";
      const name = nameOf(hand.identity);
      who.textContent = name;
      const since = document.createElement("time");
      since.dateTime = new Date(hand.raisedAt).toISOString();
      since.textContent = new Date(hand.raisedAt).toLocaleTimeString([], { hour12: false });
      const invite = button(hand.invited ? "Invited" : "Invite on stage", () => this.invite(hand.identity));
      invite.disabled = hand.invited;
      item.append(who, since, ...naming([allowed(invite)], name));
      return item;
    });
    if (items.length === 0) items.push(noneEntry("No hands raised."));
    showEntries(this.element, items);
    this.more.render(queue);
  }
}

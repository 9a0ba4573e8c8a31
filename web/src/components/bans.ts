/** The room's bans, first banned first, each with a button to lift it; for a stage manager. The
 * pages read so far, and "and N more" with Show more when there are more bans. */
import type { Ban } from "../api";
import { noneEntry, showEntries } from "./entries";
import { button, naming } from "./notice";
import { MoreLine, type PagedList } from "./pagedList";

export class Bans {
  private readonly more: MoreLine;

  constructor(
    private readonly element: HTMLUListElement,
    private readonly unban: (identity: string) => Promise<void>,
    showMore: () => Promise<void>,
  ) {
    this.more = new MoreLine(element, showMore);
  }

  render(bans: PagedList<Ban>): void {
    const items = bans.items.map((ban) => {
      const item = document.createElement("li");
      item.dataset["identity"] = ban.identity;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = ban.identity;
      const since = document.createElement("time");
      since.dateTime = new Date(ban.bannedAt).toISOString();
      since.textContent = new Date(ban.bannedAt).toLocaleTimeString([], { hour12: false });
      item.append(who, since, ...naming([button("Unban", () => this.unban(ban.identity), "unban")], ban.identity));
      return item;
    });
    if (items.length === 0) items.push(noneEntry("Nobody is banned."));
    showEntries(this.element, items);
    this.more.render(bans);
  }
}

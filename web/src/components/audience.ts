/**
 * A stage manager's view of the audience: how many watch, and for each of them the manager's
 * buttons (the host's Invite, Make moderator, Remove and Remove and ban, or Dismiss moderator; a
 * moderator's Invite, Remove and Remove and ban).
 */
import type { Participant } from "livekit-client";
import { displayName, partOf } from "../show";

export class Audience {
  constructor(
    private readonly count: HTMLElement,
    private readonly list: HTMLUListElement,
    private readonly actionsFor: (viewer: Participant) => HTMLElement[],
  ) {}

  /** `hands`: the identities whose hand is up, from the hand queue. */
  render(viewers: readonly Participant[], hands: ReadonlySet<string>): void {
    this.count.textContent = String(viewers.length);
    const sorted = [...viewers].sort((a, b) => displayName(a).localeCompare(displayName(b)));
    this.list.replaceChildren(
      ...sorted.map((viewer) => {
        const item = document.createElement("li");
        item.dataset["identity"] = viewer.identity;
        item.dataset["part"] = partOf(viewer);
        const who = document.createElement("span");
        who.className = "who";
        who.textContent = displayName(viewer);
        if (hands.has(viewer.identity)) who.append(mark("hand-up", "hand up"));
        if (partOf(viewer) === "moderator") who.append(mark("moderator", "moderator"));
        item.append(who, ...this.actionsFor(viewer));
        return item;
      }),
    );
  }
}

function mark(className: string, text: string): HTMLElement {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

/** The host's view of the audience: how many watch, and a button to invite any of them on stage. */
import type { Participant } from "livekit-client";
import { displayName } from "../show";
import { button } from "./notice";

export class Audience {
  constructor(
    private readonly count: HTMLElement,
    private readonly list: HTMLUListElement,
    private readonly invite: (identity: string) => Promise<void>,
  ) {}

  /** `hands`: the identities whose hand is up, from the hand queue. */
  render(viewers: readonly Participant[], hands: ReadonlySet<string>): void {
    this.count.textContent = String(viewers.length);
    const sorted = [...viewers].sort((a, b) => displayName(a).localeCompare(displayName(b)));
    this.list.replaceChildren(
      ...sorted.map((viewer) => {
        const item = document.createElement("li");
        item.dataset["identity"] = viewer.identity;
        const who = document.createElement("span");
        who.className = "who";
        who.textContent = displayName(viewer);
        if (hands.has(viewer.identity)) {
          const hand = document.createElement("span");
          hand.className = "hand-up";
          hand.textContent = "hand up";
          who.append(hand);
        }
        item.append(who, button("Invite", () => this.invite(viewer.identity)));
        return item;
      }),
    );
  }
}

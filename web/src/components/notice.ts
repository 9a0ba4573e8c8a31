/** The notice under the page's header: what is happening, a refusal, or the end of the show.
 * It is a live region that a screen reader reads out as it changes, so it stays in the page
 * (never hidden: a region shown and filled at once is not reliably read); empty, it takes no room. */
export type Tone = "info" | "error" | "ended";

export class Notice {
  constructor(private readonly element: HTMLElement) {}

  /** Whether the page is over (the show ended, the viewer was removed): that is its last word, and
   * nothing after it (the answer to a call made before, an error of a read) takes its place. */
  private get over(): boolean {
    return this.element.dataset["tone"] === "ended";
  }

  show(tone: Tone, text: string): void {
    if (this.over) return;
    this.element.textContent = text;
    this.element.dataset["tone"] = tone;
  }

  clear(): void {
    if (this.over) return;
    this.element.textContent = "";
    delete this.element.dataset["tone"];
  }
}

/** A button that does `action` when pressed, disabled while it runs. */
export function button(label: string, action: () => Promise<void>, className = ""): HTMLButtonElement {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  if (className) element.className = className;
  onPress(element, () => void disabledWhile([element], action));
  return element;
}

/** Calls `action` when `element` is pressed: a click, or Enter or Space on it. The second click of
 * a double click is the same press, not another: once the service has answered the first, the
 * button under the pointer may have become its opposite (Stop recording shows Start recording in
 * its place, Raise hand becomes Lower hand), and the second click must not undo what the first did. */
export function onPress(element: HTMLElement, action: () => void): void {
  element.addEventListener("click", (event) => {
    if (event.detail > 1) return;
    action();
  });
}

/** Names `who` in the accessible name of each of `buttons` ("Invite: mary"), which show only what
 * they do: a screen reader going from button to button hears whom each acts on. */
export function naming<T extends HTMLElement>(buttons: T[], who: string): T[] {
  for (const element of buttons) element.setAttribute("aria-label", `${element.textContent}: ${who}`);
  return buttons;
}

/** Runs `action` with `buttons` disabled from the click on, so that a second click meanwhile (a
 * double click) asks the service nothing more; they stay disabled if `over()` says the page is
 * done with them (the show ended meanwhile). */
export async function disabledWhile(buttons: readonly HTMLButtonElement[], action: () => Promise<void>, over = (): boolean => false): Promise<void> {
  for (const element of buttons) element.disabled = true;
  try {
    await action();
  } finally {
    if (!over()) for (const element of buttons) element.disabled = false;
  }
}

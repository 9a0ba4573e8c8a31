/** The notice under the page's header: what is happening, a refusal, or the end of the show. */
export type Tone = "info" | "error" | "ended";

export class Notice {
  constructor(private readonly element: HTMLElement) {}

  show(tone: Tone, text: string): void {
    this.element.textContent = text;
    this.element.dataset["tone"] = tone;
    this.element.hidden = false;
  }

  clear(): void {
    this.element.hidden = true;
    this.element.textContent = "";
    delete this.element.dataset["tone"];
  }
}

/** A button that does `action` when clicked, disabled while it runs. */
export function button(label: string, action: () => Promise<void>, className = ""): HTMLButtonElement {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  if (className) element.className = className;
  element.addEventListener("click", async () => {
    element.disabled = true;
    try {
      await action();
    } finally {
      element.disabled = false;
    }
  });
  return element;
}

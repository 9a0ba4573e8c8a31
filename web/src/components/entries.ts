/**
 * A manager's lists (the audience, the raised hands, the bans) redraw whenever the show changes,
 * several times a second as a crowd arrives. Drawn anew, each redraw would take the focus from a
 * keyboard user's button (to the page's top) and give a button whose call is still under way a
 * fresh, enabled twin that a second click reaches. Here a redraw keeps every entry that shows the
 * same as before where it is, element and all, and adds, moves or removes only the others.
 */

/** Shows `entries` in `list`, in that order; an entry is known by its data-identity. */
export function showEntries(list: HTMLElement, entries: readonly HTMLElement[]): void {
  const shown = new Map<string, Element>();
  for (const child of list.children) {
    const identity = child instanceof HTMLElement ? child.dataset["identity"] : undefined;
    if (identity !== undefined) shown.set(identity, child);
  }
  const wanted = entries.map((entry) => {
    const before = entry.dataset["identity"] === undefined ? undefined : shown.get(entry.dataset["identity"]);
    return before && looks(before) === looks(entry) ? before : entry;
  });
  const kept = new Set<Element>(wanted);
  for (const child of [...list.children]) if (!kept.has(child)) child.remove();
  // An entry already in its place is not touched (moving an element takes its focus away).
  wanted.forEach((entry, i) => {
    if (list.children[i] !== entry) list.insertBefore(entry, list.children[i] ?? null);
  });
}

/** What an entry shows: its elements, their classes and texts (not whether a button is disabled
 * while its call runs). */
function looks(entry: Element): string {
  const parts = [...entry.querySelectorAll("*")].map((element) => `${element.tagName}.${element.className}:${element.getAttribute("aria-label") ?? ""}:${element.children.length ? "" : element.textContent}`);
  return [entry.className, entry.getAttribute("data-part") ?? "", ...parts].join("|");
}

/** The one entry of a list that has none to show ("No hands raised."). */
export function noneEntry(text: string): HTMLLIElement {
  const item = document.createElement("li");
  item.className = "none";
  item.textContent = text;
  return item;
}

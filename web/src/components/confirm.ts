/**
 * A question asked before a step that cannot be taken back (Remove and ban, End the show): a
 * modal <dialog>, one a page (its question's id is the page's), which a screen reader reads out
 * as one, named by its question. The keyboard answers it: the
 * focus starts on Cancel, the least harmful answer, Tab reaches the step itself, Escape cancels;
 * the browser gives the focus back to where it was once it closes. Not window.confirm: that one
 * cannot be styled, names nothing of the show, and some browsers let a page silence it.
 */
import { onPress } from "./notice";

export class Confirm {
  private readonly dialog = document.createElement("dialog");
  private readonly question = document.createElement("p");
  private readonly cancel = document.createElement("button");
  private readonly yes = document.createElement("button");

  /** `place`: where the dialog lives in the page (its main landmark). */
  constructor(place: HTMLElement) {
    this.dialog.className = "confirm";
    this.question.id = "confirm-question";
    this.dialog.setAttribute("aria-labelledby", this.question.id);
    this.cancel.type = this.yes.type = "button";
    this.cancel.className = "cancel";
    this.cancel.textContent = "Cancel";
    this.yes.className = "danger yes";
    // The second click of the double click that opened the dialog answers nothing.
    onPress(this.cancel, () => this.dialog.close("no"));
    onPress(this.yes, () => this.dialog.close("yes"));
    const answers = document.createElement("div");
    answers.className = "answers";
    answers.append(this.cancel, this.yes);
    this.dialog.append(this.question, answers);
    place.append(this.dialog);
  }

  /** Asks `question`, offering Cancel and `step` (the button that takes it); true if taken. */
  ask(question: string, step: string): Promise<boolean> {
    this.question.textContent = question;
    this.yes.textContent = step;
    this.dialog.returnValue = ""; // Escape closes it without a value
    this.dialog.showModal();
    this.cancel.focus();
    return new Promise((resolve) => this.dialog.addEventListener("close", () => resolve(this.dialog.returnValue === "yes"), { once: true }));
  }

  /** Takes an open question away unanswered, as Cancel would: the page it was about has ended
   * (the show is over, or this person was removed), so there is nothing left to decide. */
  withdraw(): void {
    if (this.dialog.open) this.dialog.close("no");
  }
}

/** The invitation a viewer sees when the host asks them on stage: accept or decline, until it
 * expires, when `expired` tells the viewer so (an invitation that just vanished left them guessing). */
import { button } from "./notice";

export class Invitation {
  private expiry: number | undefined;
  private shownUntil = 0; // the expiry of the invitation shown, 0 with none

  constructor(
    private readonly element: HTMLElement,
    private readonly accept: () => Promise<void>,
    private readonly decline: () => Promise<void>,
    private readonly expired: (hostName: string) => void,
  ) {}

  /** When the invitation shown expires (ms since the epoch, by the service's clock), 0 if none is shown. */
  get expiresAt(): number {
    return this.shownUntil;
  }

  /** Shows the invitation from `hostName` until `expiresAt`, by the service's clock, which is
   * `skew` ms ahead of the browser's (measured when the service told of it: its answer's Date, its
   * event's timestamp), so the invitation lasts what is left of it from now, whatever the browser's
   * clock says and however long the page took to get here. */
  show(hostName: string, expiresAt: number, skew: number): void {
    this.shownUntil = expiresAt;
    const text = document.createElement("p");
    text.textContent = `${hostName} invites you on stage. Your camera and microphone go live when you accept.`;
    // Read out as it appears, wherever the viewer is on the page: the invitation does not wait.
    text.setAttribute("role", "alert");
    this.element.replaceChildren(
      text,
      button("Accept", () => this.accept(), "primary accept"),
      button("Decline", () => this.decline(), "decline"),
    );
    this.element.hidden = false;
    window.clearTimeout(this.expiry);
    const left = expiresAt - (Date.now() + skew);
    if (left > 0) {
      this.expiry = window.setTimeout(() => {
        this.hide();
        this.expired(hostName);
      }, left);
    }
  }

  hide(): void {
    this.shownUntil = 0;
    window.clearTimeout(this.expiry);
    this.element.hidden = true;
    this.element.replaceChildren();
  }
}

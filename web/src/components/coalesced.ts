/**
 * Work a page does again whenever something changed, paced. A manager's page reads a list again
 * (the queue of raised hands, the bans) whenever the service says it changed; in a "raise your
 * hand if..." moment that is once per viewer, each read as long as the queue. Every page redraws
 * as participants arrive and leave, thousands within seconds as a show opens (show.ts showRoom).
 * Through here such work is paced instead: one run at a time, those asked for while one runs
 * answered by a single run after it (which sees all their changes), and a run that follows events
 * starts no sooner than the pace after the one before. The manager's own actions do not wait for
 * the pace.
 */

/** The least time between the starts of two reads that follow events: a burst of hundreds of
 * changes costs about four reads a second, and a change still shows within a quarter of a
 * second of the last read, sooner than the eye follows a moving list. */
export const PACE_MS = 250;

export class Coalesced {
  private asked = false; // a read was asked for that has not started yet
  private promptly = false; // ... by the manager's own action: it does not wait for the pace
  private running: Promise<void> | undefined;
  private startedAt = -Infinity;
  private waiting: (() => void)[] = []; // answered by the next read to start
  private wake: (() => void) | undefined; // ends the wait for the pace

  /** `read` does the work (reads the list and shows it, or redraws); it never rejects (it
   * shows its own failure). */
  constructor(
    private readonly read: () => Promise<void>,
    private readonly paceMs = PACE_MS,
  ) {}

  /** Asks for a read: resolves once a read that started after this call has ended. `promptly`, for
   * the manager's own actions, starts it as soon as no other runs. */
  ask(promptly = false): Promise<void> {
    const done = new Promise<void>((resolve) => this.waiting.push(resolve));
    this.asked = true;
    if (promptly) {
      this.promptly = true;
      this.wake?.();
    }
    this.running ??= this.run();
    return done;
  }

  private async run(): Promise<void> {
    try {
      while (this.asked) {
        const wait = this.startedAt + this.paceMs - performance.now();
        if (!this.promptly && wait > 0) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            setTimeout(resolve, wait);
          });
          this.wake = undefined;
        }
        // Every ask so far is answered by this read, which starts after all of them.
        const answered = this.waiting;
        [this.waiting, this.asked, this.promptly, this.startedAt] = [[], false, false, performance.now()];
        try {
          await this.read();
        } finally {
          for (const resolve of answered) resolve();
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}

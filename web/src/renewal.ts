/**
 * Keeps a page's service token fresh through a show that runs longer than a token lasts
 * (SHOW_TOKEN_TTL_SECONDS, 6 h by default): a 12-hour telethon, a tab left open overnight. LiveKit
 * renews its own token on the connection, so without this the page would look fine while every
 * call it makes (a hand, an answer to an invitation, the studio's buttons) was refused as expired.
 *
 * Each token the service hands the page is renewed with RenewToken once 80 to 90% of its lifetime
 * has passed, the point drawn at random so that an audience that joined together does not renew
 * together. The lifetime is read from the token's own claims (exp - nbf) and counted from when the
 * page received it, on the page's clock, so a clock that is off by hours does not matter. The
 * renewed token carries exactly the role the show gives the participant now; the page keeps it
 * (for a reload) and calls with it from then on.
 */
import { RpcError } from "@protobuf-ts/runtime-rpc";
import { showService } from "./api";

/** The share of a token's lifetime after which the page renews it, drawn between these two. */
const RENEW_FROM = 0.8;
const RENEW_UNTIL = 0.9;
/** How long after a renewal that failed for a passing reason (the network, the service
 * restarting, a rate limit) the page tries again, on average: it has a tenth of the lifetime left. */
const RETRY_MS = 30_000;
const RETRY_LEAST_MS = 5_000;
/** The refusals that no retry changes: the participant was banned, the show ended, the token expired
 * already (the device slept through its renewal). */
const FINAL = new Set(["permission_denied", "failed_precondition", "unauthenticated", "not_found"]);

/** A token's lifetime in ms (its exp less its nbf, or its iat), or 0 if it says none. */
export function lifetimeMs(token: string): number {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload)) as { exp?: number; nbf?: number; iat?: number };
    const from = claims.nbf ?? claims.iat;
    return typeof claims.exp === "number" && typeof from === "number" ? Math.max(0, claims.exp - from) * 1000 : 0;
  } catch {
    return 0;
  }
}

export class TokenRenewal {
  private token = "";
  private timer: ReturnType<typeof setTimeout> | undefined;
  private due = 0;
  private expires = 0;
  private renewing = false;

  /**
   * `renewed` is told each new token; `refused` why the service would not renew it (the page
   * says so as it says those things today), after which nothing more is tried.
   */
  constructor(
    private readonly roomName: string,
    private readonly renewed: (token: string) => void,
    private readonly refused: (error: RpcError) => void,
  ) {
    // A device that slept, or a tab whose timers the browser held back, renews on coming back if
    // the time has come.
    const overdue = (): void => {
      if (this.token && !document.hidden && Date.now() >= this.due) void this.renew();
    };
    document.addEventListener("visibilitychange", overdue);
    window.addEventListener("online", overdue);
  }

  /** Starts keeping `token`, just received from the service, fresh; a token held before is let go. */
  hold(token: string): void {
    this.token = token;
    const lifetime = lifetimeMs(token);
    if (!lifetime) return;
    const received = Date.now();
    this.expires = received + lifetime;
    this.schedule(received + lifetime * (RENEW_FROM + Math.random() * (RENEW_UNTIL - RENEW_FROM)));
  }

  /** The page has left the show: nothing more is renewed. */
  stop(): void {
    this.token = "";
    clearTimeout(this.timer);
  }

  private schedule(at: number): void {
    clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(() => void this.renew(), Math.max(0, at - Date.now()));
  }

  private async renew(): Promise<void> {
    const token = this.token;
    if (!token || this.renewing) return;
    this.renewing = true;
    try {
      const { response } = await showService(token).renewToken({ roomName: this.roomName });
      if (this.token !== token) return; // the page left the show, or was given another token, meanwhile
      this.hold(response.token);
      this.renewed(response.token);
    } catch (error) {
      if (this.token !== token) return;
      if (error instanceof RpcError && FINAL.has(error.code)) {
        this.stop();
        this.refused(error);
        return;
      }
      console.warn("Renewing the page's token failed; trying again:", error);
      // Again in about RETRY_MS, or sooner near the end of the token's life, never within RETRY_LEAST_MS.
      const now = Date.now();
      const retry = Math.min(now + RETRY_MS * (0.5 + Math.random()), (now + this.expires) / 2);
      this.schedule(Math.max(now + RETRY_LEAST_MS, retry));
    } finally {
      this.renewing = false;
    }
  }
}

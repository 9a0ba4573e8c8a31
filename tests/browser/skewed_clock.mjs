// An invitation lasts as long as the service says, whatever the viewer's clock says: john's
// computer is a minute fast and mary's a minute slow (their pages' Date.now), and the service's
// invitations last 8 s (SHOW_INVITATION_SECONDS). Invited, john reloads his page and finds the
// invitation again (to a clock a minute fast it had expired before it was given); each of them
// sees the invitation go, with word that it expired, within seconds of the service's end of it,
// neither at once nor a minute late. Run by tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

const INVITATION_MS = 8_000;
const SKEW_MS = 60_000;
/** How far from the service's expiry of an invitation a page may take it away. */
const SLACK_MS = 2_500;

/** Opens the watch page as `name` with a clock `skew` ms off, joined and watching jane. */
async function watcher(open, name, skew) {
  const page = await open(name, `/watch/${ROOM}#name=${name}`);
  await page.addInitScript((off) => {
    const now = Date.now;
    Date.now = () => now() + off;
  }, skew);
  await page.reload();
  await page.click("#join button[type=submit]");
  await seesVideo(page, "jane");
  const off = await page.evaluate(() => Date.now()) - Date.now();
  if (Math.abs(off - skew) > 5_000) throw new Error(`${name}'s clock is ${off} ms off, not ${skew}`);
  return page;
}

/** Invites `name` from the studio; resolves, once `page` shows the invitation, to when the
 * service's answer to the host says it expires (by the service's clock, which is this script's). */
async function invite(host, page, name) {
  const answered = host.waitForResponse((response) => response.url().endsWith("/InviteGuest"), { timeout: STEP_MS });
  await host.click(`#audience li[data-identity="${name}"] button.invite`);
  const expiresAt = Number((await (await answered).json()).expires_at); // Twirp JSON: the contract's field names
  const lasts = expiresAt - Date.now();
  if (!(lasts > 0 && lasts <= INVITATION_MS)) throw new Error(`${name}'s invitation expires in ${lasts} ms, not within ${INVITATION_MS} ms`);
  await page.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  return expiresAt;
}

/** Fails unless `page` takes the invitation that expires at `expiresAt` away, saying it expired,
 * within SLACK_MS of then; resolves to how long after then it went. */
async function expiresOnTime(page, name, expiresAt) {
  await page.waitForSelector("#invitation", { state: "hidden", timeout: STEP_MS }).catch(() => {
    throw new Error(`${name}'s invitation is still shown ${Math.round((Date.now() - expiresAt) / 1000)} s after it expired`);
  });
  const late = Date.now() - expiresAt;
  if (Math.abs(late) > SLACK_MS) throw new Error(`${name}'s page took the invitation away ${late} ms after it expired`);
  await noticeSays(page, "info", "The invitation from jane has expired.");
  return late;
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const john = await watcher(open, "john", SKEW_MS);
  const mary = await watcher(open, "mary", -SKEW_MS);
  say("john's clock is a minute fast, mary's a minute slow");

  const johnsExpires = await invite(host, john, "john");
  await john.reload();
  await john.click("#join button[type=submit]");
  // Shown again while it still stands (a second before it expires, at least one from now).
  const stands = Math.max(1_000, johnsExpires - 1_000 - Date.now());
  await john.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: stands }).catch(() => {
    throw new Error("john reloaded with an invitation standing, and his page does not show it");
  });
  say("invited, john reloaded: his page shows the invitation again");
  say(`john's invitation went ${await expiresOnTime(john, "john", johnsExpires)} ms from its expiry, saying it expired`);

  const marysExpires = await invite(host, mary, "mary");
  say(`mary's invitation went ${await expiresOnTime(mary, "mary", marysExpires)} ms from its expiry, saying it expired`);
});

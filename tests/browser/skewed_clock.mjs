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

/** Invites `name` from the studio; resolves to when (by this script's clock, which is the
 * service's) the invitation was given, once `page` shows it. */
async function invite(host, page, name) {
  const given = Date.now();
  await host.click(`#audience li[data-identity="${name}"] button.invite`);
  await page.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  return given;
}

/** Fails unless `page` takes the invitation given at `given` away, saying it expired, within
 * SLACK_MS of INVITATION_MS after it. */
async function expiresOnTime(page, name, given) {
  await page.waitForSelector("#invitation", { state: "hidden", timeout: STEP_MS }).catch(() => {
    throw new Error(`${name}'s invitation is still shown ${Math.round((Date.now() - given) / 1000)} s after it was given, for ${INVITATION_MS / 1000} s`);
  });
  const lasted = Date.now() - given;
  if (Math.abs(lasted - INVITATION_MS) > SLACK_MS) throw new Error(`${name}'s page took the invitation away after ${lasted} ms; it lasts ${INVITATION_MS} ms`);
  await noticeSays(page, "info", "The invitation from jane has expired.");
  return lasted;
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const john = await watcher(open, "john", SKEW_MS);
  const mary = await watcher(open, "mary", -SKEW_MS);
  say("john's clock is a minute fast, mary's a minute slow");

  const johnInvited = await invite(host, john, "john");
  await john.reload();
  await john.click("#join button[type=submit]");
  await john.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: 3_000 }).catch(() => {
    throw new Error("john reloaded with an invitation standing, and his page does not show it");
  });
  say("invited, john reloaded: his page shows the invitation again");
  say(`john's invitation went after ${await expiresOnTime(john, "john", johnInvited)} ms, saying it expired`);

  const maryInvited = await invite(host, mary, "mary");
  say(`mary's invitation went after ${await expiresOnTime(mary, "mary", maryInvited)} ms, saying it expired`);
});

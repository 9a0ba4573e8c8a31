// An answer to an invitation that does not get through leaves the invitation up, to be answered
// again: the service still holds it. mary's Decline is refused by a rate limit (429), then her
// Accept by the service restarting (503): each time her page says what went wrong and that the
// invitation still stands, and keeps it with its buttons. Her next Accept puts her on stage. Run
// by tests/test_browser_show.py.
import { STEP_MS, inBrowser, liveWithViewer, noticeIs, say, seesVideo } from "./browser.mjs";

const TWIRP = "**/twirp/showrunner.v1.ShowService";

/** Answers `page`'s next call of `method` with `status` and the Twirp error `code`, `msg`; the
 * calls after it reach the service. */
async function refuseOnce(page, method, status, code, msg) {
  let refused = false;
  await page.route(`${TWIRP}/${method}`, async (route) => {
    if (refused) return route.continue();
    refused = true;
    await route.fulfill({ status, contentType: "application/json", body: JSON.stringify({ code, msg }) });
  });
}

/** Fails unless `page` still shows the invitation, with Accept and Decline enabled. */
async function stillInvited(page, after) {
  await page.waitForSelector("#invitation:not([hidden]) button.accept:not(:disabled)", { timeout: STEP_MS }).catch(() => {
    throw new Error(`after ${after}, mary's page no longer shows the invitation, which still stands`);
  });
  await page.waitForSelector("#invitation:not([hidden]) button.decline:not(:disabled)", { timeout: STEP_MS });
}

await inBrowser(async (open) => {
  const { host, viewer: mary } = await liveWithViewer(open, "jane", "mary");
  await host.click('#audience li[data-identity="mary"] button.invite');
  await mary.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  say("jane invited mary");

  await refuseOnce(mary, "DeclineInvitation", 429, "resource_exhausted", "Too many requests; try again in 1 s");
  await mary.click("#invitation:not([hidden]) button.decline");
  await stillInvited(mary, "a Decline refused by a rate limit");
  await noticeIs(mary, "error", "Too many requests; try again in 1 s. The invitation still stands: answer it again.");
  say("mary's Decline was refused by a rate limit: her page says so, and still shows the invitation");

  await refuseOnce(mary, "AcceptInvitation", 503, "unavailable", "The service is restarting");
  await mary.click("#invitation:not([hidden]) button.accept");
  await stillInvited(mary, "an Accept refused while the service restarted");
  await noticeIs(mary, "error", "The service is restarting. The invitation still stands: answer it again.");
  say("her Accept was refused while the service restarted: her page says so, and still shows the invitation");

  await mary.click("#invitation:not([hidden]) button.accept");
  await mary.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await mary.waitForSelector("#invitation", { state: "hidden", timeout: STEP_MS });
  await seesVideo(host, "mary");
  say("her next Accept put her on stage, and the invitation went");
});

// The pages come back to the show as it is now, with no reload, after missing its events: the
// studio, live to youtube and backstage, is cut off the network while the room's admin takes the
// show live and stops the stream (LiveKit's egress ends it) and a viewer raises a hand; back
// online, it shows LIVE, the stream ended and the hand in its queue. A viewer's page cut off while
// the host invites it shows the invitation once back (it reads as the browser comes back online,
// not seconds later when LiveKit's connection has resumed; it reads again then), and a read answered before a newer
// invitation does not take that one away; hidden while the host makes it a moderator, it shows the
// moderator's panel once shown again. Each of ann's returns reads her place with GetMyPlace: none
// joins again (JoinRoom mints a token and counts in the join limit her address shares with every
// viewer behind it), and her page keeps the token it joined with. Run by tests/test_browser_show.py against a
// service whose egress calls go to the tests' stand-in, playing the egress worker too.
import { ADMIN_TOKEN, BASE_URL, ROOM, STEP_MS, cutOff, goLive, hide, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

/** How soon a page that came back must show what it missed: a read, not a poll. */
const BACK_MS = 5_000;

/** Calls the service's `method` over Twirp JSON as the holder of `token`. */
async function call(method, token, body) {
  const answer = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ roomName: ROOM, ...body }),
  });
  if (!answer.ok) throw new Error(`${method} answered ${answer.status}: ${await answer.text()}`);
  return answer.json();
}

/** Waits until `holds()`, checked every 50 ms, within STEP_MS; fails saying what it waited for. */
async function until(holds, what) {
  const by = Date.now() + STEP_MS;
  while (!holds()) {
    if (Date.now() > by) throw new Error(`waited ${STEP_MS / 1000} s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits for `selector` on `page` within BACK_MS of its coming back; fails saying `what`. */
async function showsSoon(page, selector, what, state = "visible") {
  await page.waitForSelector(selector, { state, timeout: BACK_MS }).catch(() => {
    throw new Error(`${BACK_MS / 1000} s after coming back the page still does not show ${what}`);
  });
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.check('#destinations input[value="youtube"]');
  await host.click("#go-out");
  await host.waitForSelector('#stream-state[data-state="live"]', { timeout: STEP_MS });
  const mary = await open("mary", `/watch/${ROOM}#name=mary`);
  await mary.click("#join button[type=submit]");
  await mary.waitForSelector("#hand:not([hidden])", { timeout: STEP_MS });
  say("the studio is backstage and live to youtube; mary watches");

  const back = await cutOff(host);
  await call("GoLive", ADMIN_TOKEN, {});
  await call("StopStream", ADMIN_TOKEN, {});
  await mary.click("#hand");
  await noticeSays(mary, "info", "Your hand is raised");
  // The stand-in's egress worker ends the stream a moment after it was stopped.
  await host.waitForTimeout(2_000);
  if (!(await host.isHidden("#live-badge"))) throw new Error("the studio heard the show go live while cut off");
  say("cut off, the studio missed the show going live, the stream ending and mary's hand");
  await back();
  const hostIsBack = Date.now();
  await showsSoon(host, "#live-badge:not([hidden])", "LIVE");
  await showsSoon(host, '#stream-state[data-state="ended"]', "the stream ended");
  await showsSoon(host, "#out-badge", "OUT gone", "hidden");
  await showsSoon(host, '#hand-queue li[data-identity="mary"]', "mary's hand in the queue");
  say(`back online, the studio shows LIVE, the stream ended and mary's hand, with no reload, ${Date.now() - hostIsBack} ms later`);

  await seesVideo(mary, "jane");
  const hostToken = await host.evaluate((room) => sessionStorage.getItem(`showrunner.host.${room}`), ROOM);
  const ann = await open("ann", `/watch/${ROOM}#name=ann`);
  await ann.click("#join button[type=submit]");
  await seesVideo(ann, "jane");
  const annToken = await ann.evaluate((room) => sessionStorage.getItem(`showrunner:watch:${room}:ann`), ROOM);
  const annJoins = [];
  ann.on("request", (request) => {
    if (request.url().endsWith("/JoinRoom")) annJoins.push(request.url());
  });
  const annReads = [];
  ann.on("request", (request) => {
    if (request.url().endsWith("/GetMyPlace")) annReads.push(request.url());
  });
  const annBack = await cutOff(ann);
  await call("InviteGuest", hostToken, { viewerIdentity: "ann", hostIdentity: "jane" });
  await ann.waitForTimeout(1_000);
  if (await ann.isVisible("#invitation")) throw new Error("ann's page heard the invitation while cut off");
  await annBack();
  const annIsBack = Date.now();
  await showsSoon(ann, "#invitation:not([hidden]) .accept", "the invitation");
  say(`back online, ann's page shows the invitation sent while it was cut off, ${Date.now() - annIsBack} ms later`);
  // It read her place as the browser came back online; LiveKit's connection, resumed seconds
  // later, has it read again (events sent in between came on a channel not yet back).
  await until(() => annReads.length >= 2, "ann's page to read her place again once LiveKit's connection resumed");
  say(`ann's LiveKit connection resumed ${Date.now() - annIsBack} ms after, and her page read her place again`);

  await ann.click("#invitation .decline");
  await noticeSays(ann, "info", "You declined the invitation.");
  // Shown again, the page asks where ann is; the answer (no invitation) is held back until the
  // host has invited her again and the page has heard it: that older answer must not take the
  // newer invitation away.
  let answered;
  const asked = new Promise((resolve) => (answered = resolve));
  let release;
  const released = new Promise((resolve) => (release = resolve));
  await ann.route("**/GetMyPlace", async (route) => {
    const response = await route.fetch();
    answered();
    await released;
    await route.fulfill({ response });
  });
  await (await hide(ann))();
  await asked;
  await call("InviteGuest", hostToken, { viewerIdentity: "ann", hostIdentity: "jane" });
  await ann.waitForSelector("#invitation:not([hidden]) .accept", { timeout: STEP_MS });
  release();
  await ann.waitForTimeout(1_000);
  if (!(await ann.isVisible("#invitation .accept"))) throw new Error("an answer older than the invitation took it away");
  await ann.unroute("**/GetMyPlace");
  say("an answer read before the host invited ann again does not take the invitation away");
  await ann.click("#invitation .decline");
  // The notice says so already, from the first decline: the invitation going is this one's answer.
  await ann.waitForSelector("#invitation:not([hidden])", { state: "detached", timeout: STEP_MS });
  await noticeSays(ann, "info", "You declined the invitation.");

  const shown = await hide(ann);
  await call("AppointModerator", hostToken, { identity: "ann" });
  await ann.waitForTimeout(1_000);
  if (await ann.isVisible("#moderation")) throw new Error("ann's page heard the appointment while hidden");
  await shown();
  await showsSoon(ann, "#moderation:not([hidden])", "the moderator's panel");
  await showsSoon(ann, '#hand-queue li[data-identity="mary"]', "mary's hand in the moderator's queue");
  say("shown again, ann's page finds her a moderator, with the queue");

  if (annJoins.length) throw new Error(`ann's page joined again ${annJoins.length} time(s) to read her place`);
  const kept = await ann.evaluate((room) => sessionStorage.getItem(`showrunner:watch:${room}:ann`), ROOM);
  if (!annToken || kept !== annToken) throw new Error("ann's page no longer holds the token it joined with");
  say("none of ann's returns joined again: each read her place, with the token she joined with");
});

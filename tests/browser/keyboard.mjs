// The studio by keyboard while the show moves: the host tabs to mary's Invite in the audience,
// other viewers arrive (the list redraws, one of them above mary) and the focus stays on it, so
// Enter invites mary; a hand goes up and the queue's Invite on stage, reached by Tab, keeps the
// focus as more hands go up. And a call still under way keeps its button disabled through a
// redraw: with the service slow to answer, Invite clicked, a viewer arriving, Invite clicked
// again sends one call. Run by tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

/** The accessible name of the focused element. */
const focused = (page) => page.evaluate(() => document.activeElement?.getAttribute("aria-label") ?? document.activeElement?.tagName);

/** Presses Tab until the button named `name` has the focus: it is reachable by keyboard. */
async function tabTo(page, name) {
  for (let presses = 0; presses < 80; presses++) {
    await page.keyboard.press("Tab");
    if ((await focused(page)) === name) return;
  }
  throw new Error(`Tab never reached ${JSON.stringify(name)}`);
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const join = async (name) => {
    const viewer = await open(name, `/watch/${ROOM}#name=${name}`);
    await viewer.click("#join button[type=submit]");
    await seesVideo(viewer, "jane");
    await host.waitForSelector(`#audience li[data-identity="${name}"]`, { timeout: STEP_MS });
    return viewer;
  };
  const mary = await join("mary");
  await host.bringToFront();
  await tabTo(host, "Invite: mary");
  for (const name of ["amy", "zed"]) await join(name);
  const now = await focused(host);
  if (now !== "Invite: mary") throw new Error(`after two arrivals the focus is on ${JSON.stringify(now)}, not mary's Invite`);
  await host.keyboard.press("Enter");
  await mary.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  await noticeSays(host, "info", "mary has been invited to the stage");
  await mary.click("#invitation button.decline");
  await noticeSays(host, "info", "mary declined");
  say("the focus stayed on mary's Invite as amy and zed arrived, and Enter invited her");

  // bob and cal raise their hands, one after the other: the queue redraws between.
  const hands = {};
  for (const name of ["bob", "cal"]) hands[name] = await join(name);
  await hands.bob.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="bob"]', { timeout: STEP_MS });
  await host.evaluate(() => document.activeElement?.blur());
  await tabTo(host, "Invite on stage: bob");
  await hands.cal.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="cal"]', { timeout: STEP_MS });
  const inQueue = await focused(host);
  if (inQueue !== "Invite on stage: bob") throw new Error(`after cal's hand went up the focus is on ${JSON.stringify(inQueue)}, not bob's Invite on stage`);
  say("the focus stayed on bob's Invite on stage as cal's hand went up");

  // The service slow to answer an invitation: a redraw meanwhile keeps Invite disabled. The call
  // is held until the story lets it go, not for a fixed time: on a loaded machine dan's arrival
  // took longer than that once, and the second click then met the Invite of a call answered.
  let invites = 0;
  let letGo = () => {};
  const held = new Promise((resolve) => (letGo = resolve));
  await host.route("**/twirp/showrunner.v1.ShowService/InviteGuest", async (route) => {
    invites += 1;
    await held;
    await route.continue();
  });
  await host.click('#audience li[data-identity="zed"] button.invite');
  // dan arrives while the call waits: the audience redraws.
  const dan = await open("dan", `/watch/${ROOM}#name=dan`);
  await dan.click("#join button[type=submit]");
  await host.waitForSelector('#audience li[data-identity="dan"]', { timeout: STEP_MS });
  if (invites !== 1) throw new Error("the first invitation was answered before dan arrived");
  await host.click('#audience li[data-identity="zed"] button.invite', { force: true, timeout: 1_000 }).catch(() => undefined);
  letGo();
  await noticeSays(host, "info", "zed has been invited");
  await host.waitForTimeout(500);
  if (invites !== 1) throw new Error(`the studio sent InviteGuest ${invites} times`);
  say("Invite clicked again after a redraw, while the first call was under way, sent nothing more");
});

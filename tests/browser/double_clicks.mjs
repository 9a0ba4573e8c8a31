// A button clicked twice quickly asks the service once where a second call would matter: the
// studio's Start recording and Stop recording (a second start was refused, "Room is already
// being recorded", in place of "Recording started."), a viewer's Raise hand, a guest's Step down
// and the studio's End the show. A double click whose second click comes after the service
// answered the first, when the button under the pointer has become its opposite (Stop recording
// shows Start recording in its place), is one press too. Each page counts the calls it sends. Run by
// tests/test_browser_show.py against a service whose egress calls go to the tests' stand-in.
import { ROOM, STEP_MS, goLive, inBrowser, noticeIs, noticeSays, say, seesVideo } from "./browser.mjs";

/** Counts the service's calls each page sends, by method name. */
const sent = {};
function counting(page, name) {
  page.on("request", (request) => {
    const [method] = request.url().split("/twirp/showrunner.v1.ShowService/").slice(1);
    if (method) sent[`${name} ${method}`] = (sent[`${name} ${method}`] ?? 0) + 1;
  });
  return page;
}

/** Double-clicks `selector` with its second click held back until `meanwhile()` resolves: a slow
 * double click, or a quick one on a loaded machine, whose first click the service answered first.
 * The second click lands where the first did, which must then be on `then` (the button shown in
 * that place now): the story fails rather than clicking beside it, should the page have moved. */
async function slowDoubleClick(page, selector, then, meanwhile) {
  await page.waitForSelector(`${selector}:not([hidden]):not(:disabled)`, { timeout: STEP_MS });
  const box = await page.locator(selector).boundingBox();
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  await page.mouse.move(x, y);
  await page.mouse.down({ clickCount: 1 });
  await page.mouse.up({ clickCount: 1 });
  await meanwhile();
  const under = await page.evaluate(([atX, atY]) => document.elementFromPoint(atX, atY)?.id ?? "", [x, y]);
  if (`#${under}` !== then) throw new Error(`the second click would land on #${under}, not ${then}`);
  await page.mouse.down({ clickCount: 2 });
  await page.mouse.up({ clickCount: 2 });
}

/** Fails unless `name` has sent `method` exactly `times` times so far. */
function sentTimes(name, method, times) {
  const count = sent[`${name} ${method}`] ?? 0;
  if (count !== times) throw new Error(`${name}'s page sent ${method} ${count} times, not ${times}`);
}

await inBrowser(async (open) => {
  const host = counting(await goLive(open, "jane"), "host");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  await noticeIs(host, "info", "You are live.");
  say("live with nobody waiting, the studio says so without counting no viewers");

  await host.dblclick("#start-recording");
  await noticeSays(host, "info", "Recording started.");
  await host.waitForSelector("#stop-recording:not([hidden]):not(:disabled)", { timeout: STEP_MS });
  sentTimes("host", "StartRecording", 1);
  await host.dblclick("#stop-recording");
  await noticeSays(host, "info", "Recording stopped.");
  await host.waitForSelector("#start-recording:not([hidden]):not(:disabled)", { timeout: STEP_MS });
  sentTimes("host", "StopRecording", 1);
  say("a double click on Start recording, then on Stop recording, asked the service once each");

  await host.click("#start-recording");
  await noticeSays(host, "info", "Recording started.");
  await slowDoubleClick(host, "#stop-recording", "#start-recording", async () => {
    await noticeSays(host, "info", "Recording stopped.");
    await host.waitForSelector("#start-recording:not([hidden]):not(:disabled)", { timeout: STEP_MS });
  });
  await host.waitForTimeout(500);
  await noticeIs(host, "info", "Recording stopped.");
  sentTimes("host", "StartRecording", 2);
  sentTimes("host", "StopRecording", 2);
  say("a double click on Stop recording whose second click came after the answer, on Start recording, started nothing");

  const john = counting(await open("john", `/watch/${ROOM}#name=john`), "john");
  await john.click("#join button[type=submit]");
  await seesVideo(john, "jane");
  await john.dblclick("#hand");
  await noticeSays(john, "info", "Your hand is raised");
  await john.waitForSelector("#hand:not(:disabled):text-is('Lower hand')", { timeout: STEP_MS });
  sentTimes("john", "SetHandRaised", 1);
  await john.dblclick("#hand");
  await noticeSays(john, "info", "Your hand is lowered.");
  await john.waitForSelector("#hand:not(:disabled):text-is('Raise hand')", { timeout: STEP_MS });
  sentTimes("john", "SetHandRaised", 2);
  say("a double click on Raise hand raised the hand once (not raised and lowered), and one on Lower hand lowered it once");
  // The notice, filled now, keeps its place as it changes: the hand button stays under the pointer.
  await slowDoubleClick(john, "#hand", "#hand", async () => {
    await noticeSays(john, "info", "Your hand is raised");
    await john.waitForSelector("#hand:not(:disabled):text-is('Lower hand')", { timeout: STEP_MS });
  });
  await john.waitForTimeout(500);
  await noticeSays(john, "info", "Your hand is raised");
  sentTimes("john", "SetHandRaised", 3);
  say("a double click on Raise hand whose second click came after the answer, on Lower hand, raised it once");

  await host.click('#hand-queue li[data-identity="john"] button');
  await john.waitForSelector("#step-down:not([hidden])", { timeout: STEP_MS });
  await john.dblclick("#step-down");
  await noticeSays(john, "info", "You are back in the audience.");
  await john.waitForSelector("#hand:not([hidden])", { timeout: STEP_MS });
  sentTimes("john", "StepDown", 1);
  say("a double click on Step down stepped down once");

  // End the show asks first, in the page's dialog: a double click asks once, and a double click
  // on its answer ends the show with one call.
  await host.dblclick("#end-show");
  await host.getByRole("dialog", { name: /^End the show for everyone\?/ }).waitFor({ timeout: STEP_MS });
  const asked = await host.$$eval("dialog[open]", (open) => open.length);
  if (asked !== 1) throw new Error(`a double click on End the show opened ${asked} dialogs`);
  await host.dblclick("dialog.confirm button.yes");
  await noticeSays(host, "ended", "The show has ended.");
  await noticeSays(john, "ended", "The show has ended.");
  await host.waitForTimeout(500);
  sentTimes("host", "EndShow", 1);
  if (!(await host.isDisabled("#end-show"))) throw new Error("End the show is enabled after the show ended");
  say("a double click on End the show asked once, and one on its answer ended the show with one call; the button stays disabled");
});

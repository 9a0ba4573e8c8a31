// One whole show in Debian's chromium, driven by playwright-core: the host opens the show
// backstage while two viewers wait, goes live, the viewers watch, one raises a hand and is brought on stage, the other is invited and accepts, one
// declines, a late viewer is brought on stage and removed, and the host ends the show (asked first). Run by tests/test_browser_show.py, which starts LiveKit and
// the service and passes BASE_URL, ROOM, ADMIN_TOKEN, OUT_DIR (failure screenshots, logs) and
// SCREENSHOTS_DIR (the README's pictures) in the environment. Exits non-zero on the first failure.
import { ROOM, STEP_MS, goLive, inBrowser, noticeIs, noticeSays, picture, say, seesNoVideo, seesVideo } from "./browser.mjs";

/** Resolves once the watch page says beside its name box why the name was refused, starting with
 * `text`, in no words of the API's, the box marked invalid and holding the cursor; the notice says nothing. */
async function nameRefused(page, text) {
  await page.waitForFunction((t) => document.querySelector("#name-refused")?.textContent?.startsWith(t), text, { timeout: STEP_MS }).catch(async () => {
    const said = await page.evaluate(() => ({ beside: document.querySelector("#name-refused")?.textContent ?? null, notice: document.querySelector("#notice").textContent }));
    throw new Error(`expected beside the name box ${JSON.stringify(text)}, the page says ${JSON.stringify(said)}`);
  });
  const seen = await page.evaluate(() => ({
    said: document.querySelector("#name-refused").textContent,
    notice: document.querySelector("#notice").textContent,
    focused: document.activeElement?.getAttribute("name"),
    invalid: document.querySelector("#join input[name=name]").getAttribute("aria-invalid"),
    described: document.querySelector("#join input[name=name]").getAttribute("aria-describedby"),
  }));
  if (/participantName|displayName/.test(seen.said)) throw new Error(`the name's refusal is in the API's words: ${seen.said}`);
  if (seen.notice) throw new Error(`the notice says ${JSON.stringify(seen.notice)} as well`);
  if (seen.focused !== "name" || seen.invalid !== "true" || seen.described !== "name-refused") throw new Error(`the name box is not focused, marked invalid and described by the refusal: ${JSON.stringify(seen)}`);
}

await inBrowser(async (open) => {
  // The audience arrives before the host: the stage says the show has not started.
  const john = await open("john", `/watch/${ROOM}#name=john`);
  const mary = await open("mary", `/watch/${ROOM}#name=mary`);
  await john.fill("#join input[name=name]", "john doe");
  await john.click("#join button[type=submit]");
  await nameRefused(john, "That name can't be used: it must be 1 to 128 characters: letters, digits,");
  await john.fill("#join input[name=name]", "   ");
  await john.press("#join input[name=name]", "Enter");
  await nameRefused(john, "Type your name to join the audience.");
  say("a name the service refuses, and one of spaces only, say why beside the name box, in the viewer's words, the cursor still in it");
  await john.fill("#join input[name=name]", "john");
  for (const viewer of [john, mary]) await viewer.click("#join button[type=submit]");
  for (const viewer of [john, mary]) {
    await viewer.waitForFunction(() => document.querySelector(".stage-empty:not([hidden])")?.textContent?.startsWith("The show has not started yet"), null, { timeout: STEP_MS });
  }
  say("both viewers are in, and their stage says the show has not started");

  const host = await goLive(open, "jane");
  await host.waitForSelector("#backstage-badge:not([hidden])", { timeout: STEP_MS });
  say("the host is backstage and sees its own camera");
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (const viewer of [john, mary]) {
    const frames = await viewer.evaluate(() => window.framesOf("jane"));
    const empty = await viewer.evaluate(() => document.querySelector(".stage-empty:not([hidden])")?.textContent ?? "");
    if (frames > 0 || !empty.startsWith("The show has not started yet")) throw new Error(`a waiting viewer sees the backstage (${frames} frames, stage says ${JSON.stringify(empty)})`);
  }
  say("backstage: the waiting viewers receive no video and their stage says the show has not started");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  await noticeIs(host, "info", "You are live. 2 waiting viewers can see you now.");
  await Promise.all([seesVideo(john, "jane"), seesVideo(mary, "jane")]);
  say("the host went live: both viewers see the host's video playing, without doing anything");
  await host.waitForFunction(() => document.querySelector("#audience-count")?.textContent === "2", null, { timeout: STEP_MS });
  say("the host's audience count says 2");

  await john.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="john"]', { timeout: STEP_MS });
  say("john raised a hand and the host's queue shows it");

  // A raised hand is the viewer's consent: the host's invitation brings john on stage at once.
  await host.click('#hand-queue li[data-identity="john"] button');
  await john.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await Promise.all([seesVideo(host, "john"), seesVideo(mary, "john"), seesVideo(john, "john")]);
  say("john is on stage: his camera plays on the host's and mary's pages, no reload");
  await picture(mary, "watch");

  await mary.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="mary"]', { timeout: STEP_MS });
  await picture(host, "studio");
  // A name with a raised hand is kept for its holder: another tab asking for it is refused.
  const taker = await open("taker", `/watch/${ROOM}#name=mary`);
  await taker.click("#join button[type=submit]");
  await nameRefused(taker, "That name is taken in this show: pick another.");
  const taken = await taker.textContent("#name-refused");
  if (/token|raised hand/.test(taken)) throw new Error(`the taken name's refusal is in the service's words: ${taken}`);
  await taker.close();
  say("another tab asking for mary's name while her hand is up was refused beside the name box, in the viewer's words");
  await mary.click("#hand");
  await noticeSays(mary, "info", "Your hand is lowered.");
  await host.waitForSelector('#hand-queue li[data-identity="mary"]', { state: "detached", timeout: STEP_MS });
  say("mary raised her hand and lowered it again; the host's queue followed");

  await host.click('.tile[data-identity="john"] button.demote');
  await Promise.all([seesNoVideo(host, "john"), seesNoVideo(mary, "john"), seesNoVideo(john, "john")]);
  await john.waitForSelector("#hand:not([hidden])", { timeout: STEP_MS });
  say("the host sent john back to the audience and his video is gone everywhere");

  await host.click('#audience li[data-identity="mary"] button');
  await mary.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  say("mary sees the host's invitation");
  await picture(mary, "invitation");
  await mary.click("#invitation button.accept");
  await Promise.all([seesVideo(host, "mary"), seesVideo(john, "mary")]);
  await noticeSays(mary, "info", "You are on stage: your camera and microphone are live.");
  say("mary accepted: her camera plays on the host's and john's pages, no reload, and her page tells her she is on stage");

  await mary.click("#step-down");
  await Promise.all([seesNoVideo(host, "mary"), seesNoVideo(john, "mary")]);
  await noticeSays(mary, "info", "You are back in the audience.");
  say("mary stepped down and her video is gone");

  // A reload joins again with the token the tab kept for that name (a name with a part in the
  // show, a raised hand too, is given only to its holder), and the show plays again: whether her
  // old connection's leave took the hand down before her rejoin or not.
  await mary.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="mary"]', { timeout: STEP_MS });
  const keptToken = await mary.evaluate(() => Object.keys(sessionStorage).filter((k) => k.endsWith(":mary")).length);
  if (keptToken !== 1) throw new Error(`mary's tab kept ${keptToken} tokens for her name`);
  await mary.reload();
  await mary.click("#join button[type=submit]");
  await seesVideo(mary, "jane");
  await mary.waitForSelector("#hand:not([hidden])", { timeout: STEP_MS });
  say("mary raised her hand, reloaded her page and joined again with the token her tab kept");

  // An invitation can be declined, and a guest can be removed from the show altogether.
  await host.click('#audience li[data-identity="john"] button');
  // The host's answer first: told after john's decline, it would say "invited" over "declined".
  await noticeSays(host, "info", "john has been invited to the stage");
  await john.click("#invitation:not([hidden]) button.decline");
  await noticeSays(host, "info", "john declined the invitation to the stage.");
  await john.waitForSelector("#invitation", { state: "hidden" });
  await noticeSays(john, "info", "You declined the invitation.");
  say("john declined an invitation and the host heard it");
  const ann = await open("ann", `/watch/${ROOM}#name=ann`);
  await ann.click("#join button[type=submit]");
  await seesVideo(ann, "jane");
  await host.click('#audience li[data-identity="ann"] button');
  await ann.click("#invitation:not([hidden]) button.accept");
  await Promise.all([seesVideo(host, "ann"), seesVideo(john, "ann"), seesVideo(mary, "ann")]);
  await host.click('.tile[data-identity="ann"] button.remove');
  await noticeSays(ann, "ended", "You were removed from the show.");
  await Promise.all([seesNoVideo(host, "ann"), seesNoVideo(john, "ann"), seesNoVideo(mary, "ann")]);
  say("ann joined late, came on stage and was removed: her page says so, the others no longer see her");

  // Ending the show cannot be taken back: the studio asks first, in its own dialog, the focus on
  // Cancel; Escape leaves the show running, and End the show in the dialog ends it.
  let endings = 0;
  host.on("request", (request) => void (request.url().endsWith("/EndShow") && (endings += 1)));
  const question = host.getByRole("dialog", { name: "End the show for everyone? Everyone in it is disconnected, and nobody can join it again." });
  await host.click("#end-show");
  await question.waitFor({ timeout: STEP_MS });
  const onCancel = await host.evaluate(() => document.activeElement?.textContent);
  if (onCancel !== "Cancel") throw new Error(`asked to end the show, the focus is on ${JSON.stringify(onCancel)}, not Cancel`);
  await host.keyboard.press("Escape");
  await question.waitFor({ state: "hidden", timeout: STEP_MS });
  await host.waitForTimeout(500);
  if (endings !== 0 || !(await host.isVisible("#live-badge"))) throw new Error(`Escape did not leave the show running (${endings} EndShow calls)`);
  say("End the show asks first, the focus on Cancel; Escape leaves the show running");
  await host.click("#end-show");
  await question.getByRole("button", { name: "End the show", exact: true }).click();
  await Promise.all([host, john, mary].map((page) => noticeSays(page, "ended", "The show has ended.")));
  for (const [name, page] of Object.entries({ host, john, mary })) {
    const left = await page.evaluate(() => {
      const shown = [...document.querySelectorAll("main *")].filter((element) => element.getClientRects().length > 0);
      return {
        said: shown.filter((element) => element.textContent.trim() === "The show has ended." && ![...element.children].some((child) => child.textContent.trim() === "The show has ended.")).length,
        buttons: shown.filter((element) => element.matches("button, input")).map((element) => element.textContent || element.name),
      };
    });
    if (left.said !== 1 || left.buttons.length) throw new Error(`${name}'s ended page says so ${left.said} times and still shows ${JSON.stringify(left.buttons)}`);
  }
  say("the host ended the show and every page says so, once, with no button left that could do nothing");
});

// The pages for a screen reader: each page has one first-level heading (where the person is)
// and its second-level ones below it; everything but the header is in the page's main landmark,
// the join and open forms too; the notice is a polite live region that stays in the page while
// empty (a region shown and filled at once is not reliably read out); every button has a name,
// and those acting on a person name that person ("Invite: mary", "Mute mic: gia", "Unban: ann"),
// as a screen reader lists them side by side; each video on stage is named for its camera; an
// invitation is read out as it appears; the tab's title names the room; a viewer who joins, and
// the host who opens the show, land on the stage (its heading), Raise hand or Mute mic next; End
// the show asks by keyboard, and a question left open on a page whose show ends closes. Run by
// tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, say, seesVideo } from "./browser.mjs";

/** What fails the page's structure: headings, landmarks, the notice, nameless buttons and fields
 * (the names of those acting on a person are Playwright's own, as a screen reader computes them). */
function structureFaults() {
  const faults = [];
  const shown = (element) => element.getClientRects().length > 0;
  const headings = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].filter(shown).map((h) => Number(h.tagName[1]));
  if (headings[0] !== 1 || headings.filter((level) => level === 1).length !== 1) faults.push(`headings ${headings.join(",")}: not one h1 first`);
  headings.forEach((level, i) => i && level > headings[i - 1] + 1 && faults.push(`heading h${level} after h${headings[i - 1]}`));
  for (const element of document.body.querySelectorAll(":scope > *")) {
    if (!["HEADER", "MAIN", "SCRIPT", "AUDIO"].includes(element.tagName) && shown(element)) faults.push(`${element.tagName.toLowerCase()}#${element.id} is outside the landmarks`);
  }
  const notice = document.querySelector("#notice");
  if (notice?.getAttribute("aria-live") !== "polite" || notice.hidden || getComputedStyle(notice).display === "none") faults.push("the notice is not a polite live region in the page");
  if (!notice?.closest("main")) faults.push("the notice is outside the main landmark");
  // The tab names the show, so that a host with several open tells them apart.
  const room = decodeURIComponent(window.location.pathname.split("/")[2] ?? "");
  if (room && !document.title.startsWith(`${room} · `)) faults.push(`the title "${document.title}" does not name the room ${room}`);
  for (const button of [...document.querySelectorAll("button")].filter(shown)) {
    if (!(button.getAttribute("aria-label") || button.textContent).trim()) faults.push(`a button without a name: ${button.outerHTML}`);
  }
  for (const field of [...document.querySelectorAll("input")].filter(shown)) {
    if (!field.labels.length && !field.getAttribute("aria-label")) faults.push(`a field without a label: ${field.outerHTML}`);
  }
  return faults;
}

async function wellMade(page, what) {
  // In one look at the page: its lists redraw as the show moves.
  const faults = await page.evaluate(structureFaults);
  if (faults.length) throw new Error(`${what}: ${faults.join("; ")}`);
}

/** Resolves once `page` has a button named exactly `name`. */
async function hasButton(page, name) {
  await page.getByRole("button", { name, exact: true }).first().waitFor({ timeout: STEP_MS }).catch(() => {
    throw new Error(`no button is named ${JSON.stringify(name)}`);
  });
}

await inBrowser(async (open) => {
  const waiting = await open("waiting", `/watch/${ROOM}#name=ann`);
  await wellMade(waiting, "the watch page's join form");
  const host = await goLive(open, "jane");
  await wellMade(host, "the studio backstage");
  // The form is gone: the host is on the stage, whose next stops by keyboard are its own controls.
  const opened = await host.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement === document.body ? "" : document.activeElement?.textContent}`);
  if (opened !== "H2 Stage") throw new Error(`after opening the show the focus is on ${JSON.stringify(opened)}, not the stage's heading`);
  await host.keyboard.press("Tab");
  const control = await host.evaluate(() => `${document.activeElement?.closest(".stage-area .controls") ? "" : "outside the stage's controls: "}${document.activeElement?.textContent}`);
  if (control !== "Mute mic") throw new Error(`Tab from the studio's stage reaches ${JSON.stringify(control)}, not the host's Mute mic`);
  say("having opened the show, the host is on the stage's heading, and Tab goes on to its Mute mic");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  await waiting.click("#join button[type=submit]");
  await seesVideo(waiting, "jane");
  await wellMade(waiting, "a viewer's page");
  // The form is gone: the viewer is on the stage, whose next stop by keyboard is Raise hand.
  const landed = await waiting.evaluate(() => `${document.activeElement?.tagName} ${document.activeElement?.textContent}`);
  if (landed !== "H2 Stage") throw new Error(`after joining the focus is on ${JSON.stringify(landed)}, not the stage's heading`);
  await waiting.keyboard.press("Tab");
  const next = await waiting.evaluate(() => document.activeElement?.id);
  if (next !== "hand") throw new Error(`Tab from the stage reaches ${JSON.stringify(next)}, not Raise hand`);
  say("having joined, the viewer is on the stage's heading, and Tab goes on to Raise hand");
  const viewers = {};
  for (const name of ["gia", "mary", "moe"]) {
    viewers[name] = await open(name, `/watch/${ROOM}#name=${name}`);
    await viewers[name].click("#join button[type=submit]");
    await seesVideo(viewers[name], "jane");
  }
  const { gia, mary, moe } = viewers;
  await host.getByRole("button", { name: "Make moderator: moe", exact: true }).click();
  await moe.waitForSelector("#moderation:not([hidden])", { timeout: STEP_MS });

  await gia.click("#hand");
  await hasButton(host, "Invite on stage: gia");
  await host.getByRole("button", { name: "Invite on stage: gia", exact: true }).click();
  await Promise.all([seesVideo(host, "gia"), seesVideo(moe, "gia")]);
  for (const name of ["Mute mic: gia", "Turn off camera: gia", "Back to audience: gia", "Remove: gia"]) await hasButton(host, name);
  for (const name of ["Mute camera: gia", "Remove: gia"]) await hasButton(moe, name);
  for (const name of ["Invite: mary", "Remove and ban: mary", "Dismiss moderator: moe"]) await hasButton(host, name);
  say("the buttons on a guest's tile and in the lists name whom they act on");

  for (const [page, whose] of [[host, "jane"], [host, "gia"], [mary, "gia"]]) {
    const label = await page.locator(`.tile[data-identity="${whose}"] video`).getAttribute("aria-label");
    if (label !== `${whose}'s camera`) throw new Error(`${whose}'s video is named ${JSON.stringify(label)}`);
  }
  say("each video on stage is named for whose camera it is");

  // One guest at a time: gia goes back first.
  await host.getByRole("button", { name: "Back to audience: gia", exact: true }).click();
  await host.waitForSelector('.tile[data-identity="gia"]', { state: "detached", timeout: STEP_MS });
  await host.getByRole("button", { name: "Invite: mary", exact: true }).click();
  await mary.getByRole("alert").filter({ hasText: "jane invites you on stage" }).waitFor({ timeout: STEP_MS });
  say("the invitation is read out as it appears");

  await host.getByRole("button", { name: "Remove and ban: ann", exact: true }).click();
  await host.getByRole("dialog", { name: /^Remove and ban ann\?/ }).getByRole("button", { name: "Remove and ban", exact: true }).click();
  await hasButton(host, "Unban: ann");
  await hasButton(moe, "Unban: ann");
  for (const [page, what] of [[host, "the studio live"], [gia, "the guest's page"], [mary, "an invited viewer's page"], [moe, "the moderator's page"]]) await wellMade(page, what);
  say("every page has one h1, its content in main, a polite notice and named buttons and fields");

  // moe is asked whether to ban mary as the host ends the show, by keyboard from its own question,
  // the focus on Cancel: moe's question goes with the show, rather than hold the focus on a page
  // that has nothing left to do.
  await moe.getByRole("button", { name: "Remove and ban: mary", exact: true }).click();
  const banQuestion = moe.getByRole("dialog", { name: /^Remove and ban mary\?/ });
  await banQuestion.waitFor({ timeout: STEP_MS });
  await host.getByRole("button", { name: "End the show", exact: true }).click();
  await host.getByRole("dialog", { name: /^End the show for everyone\?/ }).waitFor({ timeout: STEP_MS });
  const asked = await host.evaluate(() => document.activeElement?.textContent);
  if (asked !== "Cancel") throw new Error(`asked to end the show, the focus is on ${JSON.stringify(asked)}, not Cancel`);
  await host.keyboard.press("Tab");
  await host.keyboard.press("Enter");
  await Promise.all([host, moe].map((page) => page.waitForSelector('#notice[data-tone="ended"]', { timeout: STEP_MS })));
  await banQuestion.waitFor({ state: "hidden", timeout: STEP_MS });
  if (await moe.$("dialog[open]")) throw new Error("the moderator's Remove and ban question is still open on the ended page");
  say("the host ended the show by keyboard from its question; the moderator's open Remove and ban question closed with it");
});

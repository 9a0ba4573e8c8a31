// A moderator's watch page beside the studio: the host makes mia, a viewer, a moderator from the
// studio, and her page shows the moderation panel at once, and again after a reload (JoinRoom
// answers a moderator's token). john raises a hand and mia's queue shows it; she invites him and he
// is on stage, and while the stage is full every Invite, the host's and hers, is disabled saying
// so, until the room's admin raises the guest limit (and again once it lowers it); she sends him
// back; she invites him again and he declines, which mia and the host
// both hear; she invites mary, who accepts and goes on stage. Bans follow between the two pages:
// mia's Remove and ban asks first, which Escape cancels; asked again she bans ann by keyboard,
// whose page says so, and the studio's bans list her; the host lifts the
// ban from the studio and mia's list empties; the host removes and bans john from the studio's
// audience and mia's list shows him until she lifts it; ann comes back and the host removes her
// without a ban. The host dismisses mia: the panel and her buttons on the guest's tile go, and she
// may raise a hand again. Run by tests/test_browser_show.py.
import { ADMIN_TOKEN, BASE_URL, ROOM, STEP_MS, goLive, inBrowser, noticeSays, picture, say, seesNoVideo, seesVideo } from "./browser.mjs";

/** Resolves once `page` asks whether to remove and ban `name`, in a dialog named by its question,
 * with the focus on Cancel. */
async function banAsked(page, name) {
  await page.getByRole("dialog", { name: `Remove and ban ${name}? They leave the show and cannot join it again until the ban is lifted.` }).waitFor({ timeout: STEP_MS });
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  if (focused !== "Cancel") throw new Error(`asked to ban ${name}, the focus is on ${JSON.stringify(focused)}, not Cancel`);
}

/** Sets the room's guest limit as its admin (the app's backend) does: UpdateRoomSettings. */
async function guestLimit(limit) {
  const answer = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/UpdateRoomSettings`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ roomName: ROOM, guestLimit: limit }),
  });
  if (!answer.ok) throw new Error(`UpdateRoomSettings: ${answer.status} ${await answer.text()}`);
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const viewers = {};
  for (const name of ["mia", "john", "mary", "ann"]) {
    viewers[name] = await open(name, `/watch/${ROOM}#name=${name}`);
    await viewers[name].click("#join button[type=submit]");
    await seesVideo(viewers[name], "jane");
  }
  const { mia, john, mary, ann } = viewers;
  if (!(await mia.isHidden("#moderation"))) throw new Error("a viewer's page shows the moderation panel");
  say("the host is live and four viewers watch; none sees the moderation panel");

  await host.click('#audience li[data-identity="mia"] button.appoint');
  await noticeSays(host, "info", "mia is now a moderator");
  await mia.waitForSelector("#moderation:not([hidden])", { timeout: STEP_MS });
  await noticeSays(mia, "info", "You are a moderator");
  await mia.waitForSelector("#hand", { state: "hidden", timeout: STEP_MS });
  await host.waitForSelector('#audience li[data-identity="mia"] .moderator', { timeout: STEP_MS });
  say("the host made mia a moderator: her page shows the moderation panel, without a reload");

  await mia.reload();
  await mia.click("#join button[type=submit]");
  await mia.waitForSelector("#moderation:not([hidden])", { timeout: STEP_MS });
  await seesVideo(mia, "jane");
  for (const name of ["john", "mary", "ann"]) await mia.waitForSelector(`#audience li[data-identity="${name}"] button.ban`, { timeout: STEP_MS });
  const listed = await mia.$$eval("#audience li", (items) => items.map((item) => item.dataset.identity));
  if (listed.includes("jane")) throw new Error(`a moderator is offered to act on the host: ${listed}`);
  await mia.waitForFunction(() => document.querySelector("#bans")?.textContent === "Nobody is banned.", null, { timeout: STEP_MS });
  say("mia reloaded and joined again as a moderator: the panel lists the three viewers, not the host, and no bans");

  await john.click("#hand");
  await mia.waitForSelector('#hand-queue li[data-identity="john"]', { timeout: STEP_MS });
  await mia.waitForSelector('#audience li[data-identity="john"] .hand-up', { timeout: STEP_MS });
  say("john raised a hand and mia's queue shows it");
  await picture(mia, "moderator");
  await mia.click('#hand-queue li[data-identity="john"] button');
  await john.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await Promise.all([seesVideo(host, "john"), seesVideo(mia, "john"), seesVideo(mary, "john")]);
  await mia.waitForSelector('#hand-queue li[data-identity="john"]', { state: "detached", timeout: STEP_MS });
  say("mia invited john from the queue: he is on stage, his camera plays on the host's, mia's and mary's pages");
  // The stage holds one guest (the service's default): no Invite would work, and each says why.
  const full = "The stage is full (1 of 1 guest): send a guest back to the audience to invite someone.";
  for (const page of [host, mia]) {
    await page.waitForSelector('#audience li[data-identity="mary"] button.invite:disabled', { timeout: STEP_MS });
    const why = await page.evaluate(() => {
      const invite = document.querySelector('#audience li[data-identity="mary"] button.invite');
      const note = document.querySelector("#stage-full");
      return { title: invite.title, described: document.getElementById(invite.getAttribute("aria-describedby"))?.textContent, note: note.hidden ? "" : note.textContent };
    });
    if (why.title !== full || why.described !== full || why.note !== full) throw new Error(`with the stage full, mary's Invite says ${JSON.stringify(why)}`);
  }
  say("with the stage full, the host's and mia's Invite buttons are disabled, saying why");
  // The room's admin (the app's backend) makes room for a second guest, then takes it back: both
  // pages follow the limit at once (guest_limit_changed), with no guest coming or going.
  await guestLimit(2);
  for (const page of [host, mia]) {
    await page.waitForSelector('#audience li[data-identity="mary"] button.invite:enabled', { timeout: STEP_MS });
    await page.waitForSelector("#stage-full", { state: "hidden", timeout: STEP_MS });
  }
  say("the admin raised the guest limit to 2: the host's and mia's Invite buttons work again at once");
  await guestLimit(1);
  for (const page of [host, mia]) await page.waitForSelector('#audience li[data-identity="mary"] button.invite:disabled', { timeout: STEP_MS });
  say("the admin set it back to 1: the stage is full again on both pages");

  await mia.click('.tile[data-identity="john"] button.demote');
  await Promise.all([seesNoVideo(host, "john"), seesNoVideo(mia, "john"), seesNoVideo(john, "john")]);
  await john.waitForSelector("#hand:not([hidden])", { timeout: STEP_MS });
  for (const page of [host, mia]) {
    await page.waitForSelector('#audience li[data-identity="mary"] button.invite:enabled', { timeout: STEP_MS });
    await page.waitForSelector("#stage-full", { state: "hidden", timeout: STEP_MS });
  }
  say("mia sent john back to the audience, and Invite works again");

  await mia.click('#audience li[data-identity="john"] button.invite');
  await noticeSays(mia, "info", "john has been invited to the stage");
  await john.click("#invitation:not([hidden]) button.decline");
  await Promise.all([noticeSays(mia, "info", "john declined the invitation to the stage."), noticeSays(host, "info", "john declined the invitation to the stage.")]);
  say("mia invited john again and he declined: mia, who invited, hears it, and so does the host");

  await mia.click('#audience li[data-identity="mary"] button.invite');
  await noticeSays(mia, "info", "mary has been invited to the stage");
  await mary.click("#invitation:not([hidden]) button.accept");
  await mary.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await Promise.all([seesVideo(host, "mary"), seesVideo(mia, "mary"), seesVideo(john, "mary")]);
  say("mia invited mary, who accepted: her camera plays on the host's, mia's and john's pages");

  // A ban lasts the show: it is asked about first, and the keyboard answers.
  let removals = 0;
  mia.on("request", (request) => void (request.url().endsWith("/RemoveParticipant") && (removals += 1)));
  await mia.click('#audience li[data-identity="ann"] button.ban');
  await banAsked(mia, "ann");
  await mia.keyboard.press("Escape");
  await mia.waitForSelector("dialog.confirm", { state: "hidden", timeout: STEP_MS });
  await mia.waitForTimeout(500);
  if (removals !== 0 || !(await mia.isVisible('#audience li[data-identity="ann"]'))) throw new Error(`Escape did not cancel the ban (${removals} removals)`);
  say("mia's Remove and ban asks first, Cancel focused; Escape cancels, and ann stays");
  await mia.click('#audience li[data-identity="ann"] button.ban');
  await banAsked(mia, "ann");
  await mia.keyboard.press("Tab");
  await mia.keyboard.press("Enter");
  await noticeSays(mia, "info", "ann was removed and banned from the show.");
  if (removals !== 1) throw new Error(`mia's page sent RemoveParticipant ${removals} times`);
  await noticeSays(ann, "ended", "You were removed from the show.");
  await mia.waitForSelector('#bans li[data-identity="ann"]', { timeout: STEP_MS });
  await mia.waitForSelector('#audience li[data-identity="ann"]', { state: "detached", timeout: STEP_MS });
  await host.waitForSelector('#audience li[data-identity="ann"]', { state: "detached", timeout: STEP_MS });
  await host.waitForSelector('#bans li[data-identity="ann"]', { timeout: STEP_MS });
  say("mia removed and banned ann: ann's page says so, and both mia's and the studio's bans list her");
  await host.click('#bans li[data-identity="ann"] button.unban');
  await noticeSays(host, "info", "ann may join again");
  await Promise.all([host, mia].map((page) => page.waitForFunction(() => document.querySelector("#bans")?.textContent === "Nobody is banned.", null, { timeout: STEP_MS })));
  say("the host lifted the ban from the studio, and mia's bans list followed");

  await host.click('#audience li[data-identity="john"] button.ban');
  await banAsked(host, "john");
  await host.click("dialog.confirm button.yes");
  await noticeSays(host, "info", "john was removed and banned from the show.");
  await noticeSays(john, "ended", "You were removed from the show.");
  await Promise.all([host, mia].map((page) => page.waitForSelector('#bans li[data-identity="john"]', { timeout: STEP_MS })));
  await mia.waitForSelector('#audience li[data-identity="john"]', { state: "detached", timeout: STEP_MS });
  say("the host removed and banned john from the studio's audience: his page says so, and mia's bans list him too");
  await mia.click('#bans li[data-identity="john"] button.unban');
  await host.waitForFunction(() => document.querySelector("#bans")?.textContent === "Nobody is banned.", null, { timeout: STEP_MS });
  say("mia lifted john's ban, and the studio's bans list followed");

  await ann.reload();
  await ann.click("#join button[type=submit]");
  await seesVideo(ann, "jane");
  await host.click('#audience li[data-identity="ann"] button.remove');
  await noticeSays(host, "info", "ann was removed from the show.");
  await noticeSays(ann, "ended", "You were removed from the show.");
  await host.waitForSelector('#audience li[data-identity="ann"]', { state: "detached", timeout: STEP_MS });
  if ((await host.textContent("#bans")) !== "Nobody is banned.") throw new Error("a removal without a ban banned ann");
  say("ann came back once her ban was lifted, and the host removed her without a ban");

  await mia.waitForSelector('.tile[data-identity="mary"] button.remove', { timeout: STEP_MS });
  await host.click('#audience li[data-identity="mia"] button.dismiss');
  await noticeSays(host, "info", "mia is no longer a moderator");
  await mia.waitForSelector("#moderation", { state: "hidden", timeout: STEP_MS });
  await noticeSays(mia, "info", "You are no longer a moderator.");
  await mia.waitForSelector('.tile[data-identity="mary"] button', { state: "detached", timeout: STEP_MS });
  await mia.waitForSelector("#hand:not([hidden])", { timeout: STEP_MS });
  await seesVideo(mia, "mary");
  say("the host dismissed mia: the panel and her buttons on mary's tile are gone, she may raise a hand again");
});

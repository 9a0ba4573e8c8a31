// The host mutes a guest and takes a source away from the studio, a moderator mutes from the
// watch page, and the guest and the host mute and unmute their own; every step is checked in
// LiveKit's own view (its RoomService's ListParticipants).
// gia, invited, is on stage with the fake camera and microphone, and her page offers Mute mic and
// Turn camera off. The host's Mute mic mutes her microphone track on LiveKit, her own page shows it
// muted and her button turns to Unmute mic; her Unmute mic unmutes it on LiveKit and the studio's
// tile loses its mark. She turns her own camera off and on, muted and unmuted on LiveKit. Turn off
// camera mutes and locks it: LiveKit unpublishes her camera and her permission no longer lists
// it, her camera button is disabled with the reason, the studio offers Allow camera instead (and
// no Turn off mic: a guest keeps one source), and Allow camera gives it back: her permission lists
// it again, her page publishes it again, her button is hers again, and the host sees her video.
// The host mutes and unmutes its own microphone from the studio the same way. mia, made a
// moderator, is offered Mute on gia's tile but neither Turn off nor Allow (the service refuses a
// moderator's lock), and her Mute camera mutes it on LiveKit and turns gia's button to Turn camera
// on. Run by tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, livekitShows, noticeSays, say, seesVideo } from "./browser.mjs";

/** gia's track of `source` ("MICROPHONE", "CAMERA") as LiveKit lists it, if any. */
function track(participant, source) {
  return (participant.tracks ?? []).find((t) => t.source === source);
}

/** The sources LiveKit lets the participant publish ([] meaning any). */
function sources(participant) {
  return participant.permission?.canPublishSources ?? participant.permission?.can_publish_sources ?? [];
}

const tile = (identity) => `.tile[data-identity="${identity}"]`;

/** Resolves once the page's own `source` button ("microphone", "camera") says `label`. */
async function ownButtonSays(page, source, label, state = ":not(:disabled)") {
  await page.waitForSelector(`#own-media:not([hidden]) button.own-${source}${state}:text-is("${label}")`, { timeout: STEP_MS });
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const gia = await open("gia", `/watch/${ROOM}#name=gia`);
  const mia = await open("mia", `/watch/${ROOM}#name=mia`);
  for (const viewer of [gia, mia]) {
    await viewer.click("#join button[type=submit]");
    await seesVideo(viewer, "jane");
  }
  await host.click('#audience li[data-identity="gia"] button.invite');
  await gia.click("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  await Promise.all([seesVideo(host, "gia"), seesVideo(gia, "gia")]);
  await livekitShows("gia", "publishing her microphone and camera, unmuted", (p) =>
    ["MICROPHONE", "CAMERA"].every((source) => track(p, source) && !track(p, source).muted),
  );
  await ownButtonSays(gia, "microphone", "Mute mic");
  await ownButtonSays(gia, "camera", "Turn camera off");
  say("gia is on stage, publishing her microphone and camera as LiveKit lists them; her page offers Mute mic and Turn camera off");

  await host.click(`${tile("gia")} button.mute-microphone`);
  await noticeSays(host, "info", "gia's microphone is muted");
  await livekitShows("gia", "with her microphone muted", (p) => track(p, "MICROPHONE")?.muted === true);
  await gia.waitForSelector(`${tile("gia")}[data-microphone="muted"] .mic-muted:not([hidden])`, { timeout: STEP_MS });
  await host.waitForSelector(`${tile("gia")} button.mute-microphone.muted:disabled`, { timeout: STEP_MS });
  await ownButtonSays(gia, "microphone", "Unmute mic");
  say("the host muted gia's microphone: LiveKit has it muted, her page says so and offers Unmute mic, the studio shows it muted");

  await gia.click("#own-media button.own-microphone");
  await livekitShows("gia", "with her microphone unmuted", (p) => track(p, "MICROPHONE") && !track(p, "MICROPHONE").muted);
  await host.waitForSelector(`${tile("gia")}[data-microphone="on"] .mic-muted[hidden]`, { state: "attached", timeout: STEP_MS });
  await host.waitForSelector(`${tile("gia")} button.mute-microphone:not(.muted):not(:disabled)`, { timeout: STEP_MS });
  await ownButtonSays(gia, "microphone", "Mute mic");
  say("gia unmuted herself: LiveKit has her microphone unmuted, and the studio's tile lost its mark");

  await gia.click("#own-media button.own-camera");
  await livekitShows("gia", "with her camera muted by herself", (p) => track(p, "CAMERA")?.muted === true);
  await host.waitForSelector(`${tile("gia")}.camera-off`, { state: "attached", timeout: STEP_MS });
  await ownButtonSays(gia, "camera", "Turn camera on");
  await gia.click("#own-media button.own-camera");
  await livekitShows("gia", "with her camera unmuted again", (p) => track(p, "CAMERA") && !track(p, "CAMERA").muted);
  await seesVideo(host, "gia");
  await ownButtonSays(gia, "camera", "Turn camera off");
  say("gia turned her camera off and on: LiveKit had it muted, then live, and the host sees her video again");

  await host.click(`${tile("gia")} button.lock-camera`);
  await noticeSays(host, "info", "gia's camera is muted and locked");
  await livekitShows("gia", "without a camera, nor the camera in her permission", (p) => !track(p, "CAMERA") && sources(p).length > 0 && !sources(p).includes("CAMERA"));
  await host.waitForSelector(`${tile("gia")} button.allow-camera`, { timeout: STEP_MS });
  if (await host.$(`${tile("gia")} button.lock-microphone`)) throw new Error("the studio offers to turn off a guest's last source");
  await gia.waitForSelector(`${tile("gia")}.camera-off`, { timeout: STEP_MS });
  await ownButtonSays(gia, "camera", "Turn camera on", ":disabled");
  await gia.waitForSelector('#own-media .own-camera-reason:not([hidden]):text-is("The host turned your camera off")', { timeout: STEP_MS });
  await ownButtonSays(gia, "microphone", "Mute mic");
  say("the host turned gia's camera off: LiveKit unpublished it and her permission lacks it; the studio offers Allow camera, her camera button is disabled with the reason");

  await host.click(`${tile("gia")} button.allow-camera`);
  await noticeSays(host, "info", "gia may publish the camera again");
  await livekitShows("gia", "with the camera in her permission and published again", (p) => sources(p).includes("CAMERA") && !!track(p, "CAMERA"));
  await seesVideo(host, "gia");
  await host.waitForSelector(`${tile("gia")} button.lock-camera`, { timeout: STEP_MS });
  await ownButtonSays(gia, "camera", "Turn camera off");
  await gia.waitForSelector("#own-media .own-camera-reason", { state: "hidden", timeout: STEP_MS });
  say("the host allowed gia's camera again: LiveKit lets her publish it, her page did and offers Turn camera off, and the host sees her video");

  await ownButtonSays(host, "microphone", "Mute mic");
  await host.click("#own-media button.own-microphone");
  await livekitShows("jane", "with her own microphone muted", (p) => track(p, "MICROPHONE")?.muted === true);
  await gia.waitForSelector(`${tile("jane")}[data-microphone="muted"] .mic-muted:not([hidden])`, { timeout: STEP_MS });
  await ownButtonSays(host, "microphone", "Unmute mic");
  await host.click("#own-media button.own-microphone");
  await livekitShows("jane", "with her own microphone unmuted", (p) => track(p, "MICROPHONE") && !track(p, "MICROPHONE").muted);
  await gia.waitForSelector(`${tile("jane")}[data-microphone="on"]`, { timeout: STEP_MS });
  say("the host muted and unmuted her own microphone from the studio, on LiveKit and on gia's page");

  await host.click('#audience li[data-identity="mia"] button.appoint');
  await mia.waitForSelector("#moderation:not([hidden])", { timeout: STEP_MS });
  await mia.waitForSelector(`${tile("gia")} button.mute-camera:not(:disabled)`, { timeout: STEP_MS });
  await mia.waitForSelector(`${tile("gia")} button.mute-microphone:not(.muted):not(:disabled)`, { timeout: STEP_MS });
  if (await mia.$("#own-media:not([hidden])")) throw new Error("a moderator off stage is offered its own microphone and camera");
  const offered = await mia.$$eval(`${tile("gia")} .tile-actions button`, (buttons) => buttons.map((b) => b.className));
  if (offered.some((name) => /lock-|allow-/.test(name))) throw new Error(`a moderator is offered a lock: ${offered}`);
  await mia.click(`${tile("gia")} button.mute-camera`);
  await noticeSays(mia, "info", "gia's camera is muted");
  await livekitShows("gia", "with her camera muted", (p) => track(p, "CAMERA")?.muted === true);
  await ownButtonSays(gia, "camera", "Turn camera on");
  say("mia, a moderator, is offered Mute but no lock on gia's tile, and her Mute camera muted it on LiveKit and on gia's button");
});

// A guest whose camera the host turned off, reloading her page, starts only what she may publish:
// gia, on stage with her camera locked by the host, reloads and joins again. Her page publishes
// her microphone alone, and captures no camera at all (none left running that LiveKit would refuse
// to take); once the host allows the camera again, her page publishes it and the host sees her.
// Run by tests/test_browser_show.py.
import { STEP_MS, captures, inBrowser, liveCaptures, livekitShows, liveWithViewer, say, seesVideo } from "./browser.mjs";

/** gia's track of `source` ("MICROPHONE", "CAMERA") as LiveKit lists it, if any. */
function track(participant, source) {
  return (participant.tracks ?? []).find((t) => t.source === source);
}

/** The sources LiveKit lets the participant publish ([] meaning any). */
function sources(participant) {
  return participant.permission?.canPublishSources ?? participant.permission?.can_publish_sources ?? [];
}

const tile = (identity) => `.tile[data-identity="${identity}"]`;

await inBrowser(async (open) => {
  const { host, viewer: gia } = await liveWithViewer(open, "jane", "gia");
  await host.click('#audience li[data-identity="gia"] button.invite');
  await gia.click("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  await seesVideo(host, "gia");
  // Promoted, her page asked for the camera and the microphone in one capture: one prompt.
  const asked = JSON.stringify(await captures(gia));
  if (asked !== JSON.stringify([["audio", "video"]])) throw new Error(`gia's page, promoted, captured ${asked}: one prompt for both was meant`);
  await host.click(`${tile("gia")} button.lock-camera`);
  await livekitShows("gia", "without a camera, nor the camera in her permission", (p) => !track(p, "CAMERA") && sources(p).length > 0 && !sources(p).includes("CAMERA"));
  say("gia is on stage, her camera turned off by the host");

  await gia.reload();
  await gia.click("#join button[type=submit]");
  await gia.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await livekitShows("gia", "publishing her microphone again", (p) => !!track(p, "MICROPHONE"));
  // Her page has done with starting what it may (a camera refused would have been captured by now).
  await gia.waitForSelector('#own-media .own-camera-reason:not([hidden]):text-is("The host turned your camera off")', { timeout: STEP_MS });
  await gia.waitForTimeout(1_000);
  const running = await liveCaptures(gia);
  if (running.includes("video")) throw new Error(`gia's page, reloaded with her camera turned off, keeps a camera running: it captures ${JSON.stringify(running)}`);
  if (!running.includes("audio")) throw new Error(`gia's page, reloaded, captures no microphone: ${JSON.stringify(running)}`);
  const seen = await livekitShows("gia", "with her microphone alone", (p) => !!track(p, "MICROPHONE"));
  if (track(seen, "CAMERA")) throw new Error("LiveKit lists a camera for gia, whose camera is turned off");
  say("gia reloaded and joined again: her page publishes her microphone, and captures no camera");

  await host.click(`${tile("gia")} button.allow-camera`);
  await livekitShows("gia", "publishing her camera again", (p) => !!track(p, "CAMERA"));
  await seesVideo(host, "gia");
  say("the host allowed her camera: her page published it, and the host sees her");
});

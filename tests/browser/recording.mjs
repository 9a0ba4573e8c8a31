// The host records the show from the studio: Start recording, the REC badge, Stop recording, and
// a next recording started while the last still writes out its file. Run by
// tests/test_browser_show.py against a service whose egress calls go to the tests' stand-in, which
// plays the egress worker (its webhooks a few seconds after each call); the test checks what the
// stand-in received.
import { ADMIN_TOKEN, BASE_URL, ROOM, STEP_MS, goLive, inBrowser, noticeSays, say } from "./browser.mjs";

/** The room's recordings, newest first, as the service lists them to the room's admin (Twirp
 * JSON: the contract's field names, statuses by name). */
async function recordings() {
  const answer = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/ListRecordings`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ roomName: ROOM }),
  });
  if (!answer.ok) throw new Error(`ListRecordings: ${answer.status} ${await answer.text()}`);
  return (await answer.json()).recordings ?? [];
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  say("the host is live");
  await host.click("#start-recording");
  await noticeSays(host, "info", "Recording started.");
  await host.waitForSelector("#recording-badge:not([hidden])");
  await host.waitForSelector("#stop-recording:not([hidden])");
  say("the studio shows the show is being recorded");
  await host.click("#stop-recording");
  await noticeSays(host, "info", "Recording stopped.");
  await host.waitForSelector("#recording-badge", { state: "hidden" });
  await host.waitForSelector("#start-recording:not([hidden])");
  say("the recording stopped and the studio says so");

  await host.click("#start-recording");
  await noticeSays(host, "info", "Recording started.");
  await host.waitForSelector("#stop-recording:not([hidden])");
  // The first recording's end (egress_ended, then recording_stopped to the room) comes after this;
  // the next one's start (recording_started) about then, which would show Stop again.
  await host.evaluate(() => {
    const stop = document.querySelector("#stop-recording");
    window.stopHidden = false;
    new MutationObserver(() => (window.stopHidden ||= stop.hidden)).observe(stop, { attributes: true, attributeFilter: ["hidden"] });
  });
  const [, first] = await recordings();
  if (first?.status !== "EGRESS_ENDING") throw new Error(`the next recording started beside ${JSON.stringify(first)}, not one ending`);
  for (const deadline = Date.now() + STEP_MS; ; await host.waitForTimeout(200)) {
    const [, last] = await recordings();
    if (last.status === "EGRESS_COMPLETE") break;
    if (Date.now() > deadline) throw new Error(`the last recording has not ended: ${JSON.stringify(last)}`);
  }
  await host.waitForTimeout(1_000); // its recording_stopped, sent as it ended, reaches the page
  if (await host.evaluate(() => window.stopHidden)) throw new Error("the last recording's end took the Stop button of the next, for a while");
  if (await host.isHidden("#recording-badge")) throw new Error("the last recording's end took the REC badge of the next");
  say("a next recording started while the last wrote out its file, and the last's end left it shown");
  await host.click("#stop-recording");
  await noticeSays(host, "info", "Recording stopped.");
  await host.waitForSelector("#recording-badge", { state: "hidden" });
});

// The host records the show from the studio: Start recording, the REC badge, Stop recording. Run
// by tests/test_browser_show.py against a service whose egress calls go to the tests' stand-in
// (no egress worker runs here); the test checks what the stand-in received.
import { goLive, inBrowser, noticeSays, say } from "./browser.mjs";

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
});

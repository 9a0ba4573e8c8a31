// A guest's tab keeps its token through a failed rejoin: mary, on stage, reloads while the service
// cannot answer (a restart: the first JoinRoom answers 503 unavailable). The page says so and keeps
// the token her tab holds, so that her next try puts her back on stage; only a token the service
// no longer accepts is let go. Run by tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const mary = await open("mary", `/watch/${ROOM}#name=mary`);
  await mary.click("#join button[type=submit]");
  await seesVideo(mary, "jane");
  await host.click('#audience li[data-identity="mary"] button');
  await mary.click("#invitation:not([hidden]) button.accept");
  await mary.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await seesVideo(host, "mary");
  say("mary is on stage");

  let refused = 0;
  await mary.route("**/twirp/showrunner.v1.ShowService/JoinRoom", async (route) => {
    if (refused++ > 0) return route.continue();
    await route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ code: "unavailable", msg: "The service is restarting" }) });
  });
  await mary.reload();
  await mary.click("#join button[type=submit]");
  await noticeSays(mary, "error", "The service is restarting");
  say("mary reloaded while the service could not answer, and her page says so");
  await mary.click("#join button[type=submit]");
  await mary.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await seesVideo(host, "mary");
  say("her next try, with the token her tab kept, put her back on stage");
});

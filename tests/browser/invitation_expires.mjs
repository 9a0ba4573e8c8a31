// An invitation the viewer leaves unanswered expires (here after SHOW_INVITATION_SECONDS=3): it
// goes from the watch page, which says so and how to be asked again, rather than vanishing
// without a word. Run by tests/test_browser_show.py against a service with a short invitation.
import { ROOM, STEP_MS, goLive, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const john = await open("john", `/watch/${ROOM}#name=john`);
  await john.click("#join button[type=submit]");
  await seesVideo(john, "jane");
  await host.click('#audience li[data-identity="john"] button.invite');
  await john.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  say("john is invited, and leaves it unanswered");
  await john.waitForSelector("#invitation", { state: "hidden", timeout: STEP_MS });
  await noticeSays(john, "info", "The invitation from jane has expired. Raise your hand to be asked again.");
  say("the invitation expired: john's page says so and how to be asked again");
});

// The studio keeps the host's token through a name typed differently: jane, hosting, reloads the
// studio and types "janet" by mistake. The studio says whose token it holds and keeps it, so that
// "jane" takes her back in without the admin token; and a reload whose address names nobody
// (/studio/<room>, no #name=) offers jane's name, under which her token takes her back in. Run by
// tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, noticeIs, say, seesVideo } from "./browser.mjs";

/** The host token the studio keeps for this room in its tab, if any. */
async function keptToken(page) {
  return page.evaluate((room) => sessionStorage.getItem(`showrunner.host.${room}`), ROOM);
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  const token = await keptToken(host);
  if (!token) throw new Error("the studio keeps no host token");
  say("jane hosts the show");

  await host.reload();
  await host.fill("#go-live input[name=name]", "janet");
  await host.click("#go-live button[type=submit]");
  await host.waitForSelector("#notice[data-tone=error]", { timeout: STEP_MS });
  say(`she reloaded and typed "janet": the studio says ${JSON.stringify(await host.textContent("#notice"))}`);
  if ((await keptToken(host)) === null) throw new Error(`the studio let go of jane's token when she typed "janet"`);
  await host.fill("#go-live input[name=name]", "jane");
  await host.click("#go-live button[type=submit]");
  await seesVideo(host, "jane");
  await host.waitForSelector("#studio:not([hidden])", { timeout: STEP_MS });
  say(`typing "jane" took her back in with the token the studio kept`);

  await host.goto(host.url().split("#")[0]);
  const offered = await host.inputValue("#go-live input[name=name]");
  if (offered !== "jane") throw new Error(`the studio reloaded with no name in its address offers ${JSON.stringify(offered)}, not jane`);
  await host.click("#go-live button[type=submit]");
  await seesVideo(host, "jane");
  say("reloaded with no name in its address, the studio offered jane, and took her back in");
});

// The studio after the host went in: it keeps the admin token nowhere once traded, follows the
// room's admin (the app's backend) taking the show live, shows a recording still running after a
// reload, keeps the host's token through a reload the service cannot answer, and tells a host the
// admin removed that it was removed. Run by tests/test_browser_show.py against a service whose
// egress calls go to the tests' stand-in.
import { ADMIN_TOKEN, BASE_URL, ROOM, STEP_MS, goLive, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.waitForSelector("#backstage-badge:not([hidden])", { timeout: STEP_MS });
  // The page traded the admin token for the host's own: it keeps it nowhere, not even in the form.
  const keeps = await host.evaluate((admin) => {
    const places = { url: window.location.href, form: document.querySelector("#go-live input[name=admin]").value };
    for (const key of Object.keys(sessionStorage)) places[`sessionStorage ${key}`] = sessionStorage.getItem(key);
    return Object.keys(places).filter((place) => places[place].includes(admin));
  }, ADMIN_TOKEN);
  if (keeps.length) throw new Error(`the studio still holds the admin token after trading it: ${keeps.join(", ")}`);
  say("the studio traded the admin token and kept it nowhere");
  const answer = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/GoLive`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ roomName: ROOM }),
  });
  if (!answer.ok) throw new Error(`GoLive: ${answer.status} ${await answer.text()}`);
  say("the room's admin took the show live");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  await host.waitForSelector("#open-show", { state: "hidden", timeout: STEP_MS });
  await host.waitForSelector("#backstage-badge", { state: "hidden", timeout: STEP_MS });
  say("the studio says LIVE and no longer offers to go live");

  await host.click("#start-recording");
  await noticeSays(host, "info", "Recording started.");
  await host.reload();
  await host.click("#go-live button[type=submit]");
  await seesVideo(host, "jane");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  await host.waitForSelector("#recording-badge:not([hidden])", { timeout: STEP_MS });
  await host.waitForSelector("#stop-recording:not([hidden])", { timeout: STEP_MS });
  say("the host reloaded the studio mid-recording: it shows REC and Stop recording");

  let refused = 0;
  await host.route("**/twirp/showrunner.v1.ShowService/JoinRoom", async (route) => {
    if (refused++ > 0) return route.continue();
    await route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ code: "unavailable", msg: "The service is restarting" }) });
  });
  await host.reload();
  await host.click("#go-live button[type=submit]");
  await noticeSays(host, "error", "The service is restarting");
  await host.click("#go-live button[type=submit]");
  await seesVideo(host, "jane");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  say("a reload the service could not answer kept the host's token: the next try went back in");

  const removed = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/RemoveParticipant`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ roomName: ROOM, identity: "jane" }),
  });
  if (!removed.ok) throw new Error(`RemoveParticipant: ${removed.status} ${await removed.text()}`);
  await noticeSays(host, "ended", "You were removed from the show.");
  say("the room's admin removed the host, and the studio says so in the host's words");
});

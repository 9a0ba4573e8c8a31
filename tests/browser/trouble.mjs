// What the pages say when something goes wrong, in the words of the person in front of them
// rather than the service's or LiveKit's: the studio opened without an admin token, or with one
// the service refuses; the host's camera refused by the browser; LiveKit refusing a viewer's
// connection; and the service stopped mid-show (every call fails at the network). Run by
// tests/test_browser_show.py.
import { ADMIN_TOKEN, LIVEKIT_URL, ROOM, STEP_MS, goLive, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

await inBrowser(async (open) => {
  const studio = await open("studio", `/studio/${ROOM}#name=jane`);
  let joins = 0;
  studio.on("request", (request) => void (request.url().endsWith("/JoinRoom") && (joins += 1)));
  await studio.click("#go-live button[type=submit]");
  await noticeSays(studio, "error", "Paste this room's admin token to open the show: your backend gives it to its hosts.");
  if (joins !== 0) throw new Error(`the studio asked the service to join ${joins} times without a token`);
  if (!(await studio.evaluate(() => document.activeElement?.getAttribute("name") === "admin"))) throw new Error("the admin token's box is not focused");
  say("without an admin token the studio asks for one, and puts the cursor in its box");

  await studio.fill("#go-live input[name=admin]", "not-a-token");
  await studio.click("#go-live button[type=submit]");
  await noticeSays(studio, "error", "The admin token was not accepted (token is malformed): ask your backend for a fresh one.");
  say("a token the service refuses is said to be the admin token, with the service's reason");

  // The browser refuses the camera: the host is told what to do.
  await studio.addInitScript(() => {
    navigator.mediaDevices.getUserMedia = async () => {
      throw new DOMException("Permission denied", "NotAllowedError");
    };
  });
  const origin = new URL(studio.url()).origin;
  await studio.goto("about:blank"); // a new document, not the same one with another fragment
  await studio.goto(`${origin}/studio/${ROOM}#name=jane&admin=${ADMIN_TOKEN}`);
  await studio.click("#go-live button[type=submit]");
  await noticeSays(studio, "error", "Your camera or microphone could not start (Permission denied): allow them for this page, then open the show again.");
  await studio.close();
  say("a camera the browser refused says so, and how to go on");

  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });

  // LiveKit refuses the viewer's connection (here: closes it as it opens).
  const livekit = new URL(LIVEKIT_URL);
  const refused = await open("refused", `/watch/${ROOM}#name=rita`);
  await refused.routeWebSocket((url) => url.host === livekit.host, (socket) => socket.close({ code: 1011, reason: "refused" }));
  await refused.route((url) => url.host === livekit.host, (route) => route.abort("connectionrefused"));
  await refused.click("#join button[type=submit]");
  await noticeSays(refused, "error", "The show's video server could not be reached; try again in a moment.");
  say("LiveKit refusing a viewer is said in the show's words");

  // The service stops mid-show: the viewer watches on (LiveKit carries the show), and a call says so.
  const john = await open("john", `/watch/${ROOM}#name=john`);
  await john.click("#join button[type=submit]");
  await seesVideo(john, "jane");
  await john.route("**/twirp/**", (route) => route.abort("connectionrefused"));
  await john.click("#hand");
  await noticeSays(john, "error", "The service could not be reached: check your connection, then try again.");
  await john.unroute("**/twirp/**");
  // A proxy before the service answers for it.
  await john.route("**/twirp/**", (route) => route.fulfill({ status: 502, contentType: "text/html", body: "<h1>Bad Gateway</h1>" }));
  await john.click("#hand");
  await noticeSays(john, "error", "The service could not answer; try again in a moment.");
  await john.unroute("**/twirp/**");
  await john.click("#hand");
  await noticeSays(john, "info", "Your hand is raised");
  say("with the service stopped a call says it could not be reached, through a proxy that it could not answer; back, the hand goes up");
});

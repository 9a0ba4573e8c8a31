// The pages keep working past their first token's lifetime (here SHOW_TOKEN_TTL_SECONDS=60): the
// studio and a watch page renew their tokens with RenewToken before they expire, keep the renewed
// ones for a reload and call with them. Once the tokens JoinRoom gave are refused as expired, john
// raises his hand, the studio sees it in its queue and jane's Invite brings him on stage. Neither
// page joins again (JoinRoom counts in the join limit its address shares). Run by
// tests/test_browser_show.py against a service whose tokens last a minute.
import { BASE_URL, ROOM, STEP_MS, goLive, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

/** The claims of a JWT, unverified. */
const claims = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

/** The token `page` keeps in its tab under `key`. */
const keptToken = (page, key) => page.evaluate((k) => sessionStorage.getItem(k), key);

/** What the service answers GetMyPlace with `token`: its HTTP status and its message or identity. */
async function myPlace(token) {
  const answer = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/GetMyPlace`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ roomName: ROOM }),
  });
  const body = await answer.json();
  return `${answer.status} ${body.msg ?? body.identity}`;
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const john = await open("john", `/watch/${ROOM}#name=john`);
  await john.click("#join button[type=submit]");
  await seesVideo(john, "jane");
  // From now on: what each page asks the service.
  const calls = { JoinRoom: 0, RenewToken: 0 };
  for (const page of [host, john]) {
    page.on("request", (request) => {
      const method = request.url().split("/").pop();
      if (method in calls) calls[method]++;
    });
  }
  const hostKey = `showrunner.host.${ROOM}`;
  const johnKey = `showrunner:watch:${ROOM}:john`;
  const firstHost = await keptToken(host, hostKey);
  const firstJohn = await keptToken(john, johnKey);
  const lifetime = claims(firstJohn).exp - claims(firstJohn).nbf;
  if (lifetime !== 60) throw new Error(`john's token lasts ${lifetime} s, not the service's 60`);
  say("jane is live, john watches; their tokens last a minute");

  // The service's 10 s of leeway, and a little more.
  const refusedFrom = Math.max(claims(firstHost).exp, claims(firstJohn).exp) * 1000 + 11_000;
  await john.waitForTimeout(Math.max(0, refusedFrom - Date.now()));
  for (const token of [firstHost, firstJohn]) {
    const answer = await myPlace(token);
    if (answer !== "401 token has expired") throw new Error(`a first token is not refused yet: ${answer}`);
  }
  const [hostNow, johnNow] = [await keptToken(host, hostKey), await keptToken(john, johnKey)];
  for (const [who, token, first] of [["jane", hostNow, firstHost], ["john", johnNow, firstJohn]]) {
    if (token === first || claims(token).exp <= claims(first).exp) throw new Error(`${who}'s page keeps no renewed token`);
    const answer = await myPlace(token);
    if (answer !== `200 ${who}`) throw new Error(`${who}'s renewed token is refused: ${answer}`);
  }
  say("the tokens JoinRoom gave have expired; each page renewed its own and keeps it for a reload");

  await john.click("#hand");
  await noticeSays(john, "info", "Your hand is raised");
  await host.waitForSelector('#hand-queue li[data-identity="john"]', { timeout: STEP_MS });
  await host.click('#hand-queue li[data-identity="john"] button');
  await noticeSays(john, "info", "You are on stage");
  await seesVideo(host, "john");
  say("past the first tokens' lifetime, john raises his hand, the studio sees it and jane brings him on stage");

  if (calls.JoinRoom !== 0) throw new Error(`the pages joined again ${calls.JoinRoom} times`);
  if (calls.RenewToken < 2) throw new Error(`the pages renewed ${calls.RenewToken} times, not at least once each`);
  say(`neither page joined again; they renewed ${calls.RenewToken} times in all`);
});

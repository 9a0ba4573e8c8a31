// The studio's stream ends while the studio hears none of it (the stream_ending and stream_ended
// events lost; the page stays connected and visible): the panel, which reads a live stream once a
// minute, says "Ended" within about a minute, with no reload, having read the streams once
// meanwhile on its own (a read of everything the studio shows, after a dropped connection a
// loaded machine may bring, reads ListRecordings too and may find the end first). Run by tests/test_browser_show.py against a service whose egress calls go to the
// tests' stand-in, playing the egress worker too.
import { ADMIN_TOKEN, BASE_URL, ROOM, STEP_MS, goLive, inBrowser, say } from "./browser.mjs";

/** How often the studio reads a live stream (restream.ts), and the slack a browser may add. */
const LIVE_CHECK_MS = 60_000;
const SLACK_MS = 5_000;

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  let reads = 0;
  let readsOfAll = 0;
  host.on("request", (request) => {
    if (request.url().endsWith("/ListStreams")) reads += 1;
    if (request.url().endsWith("/ListRecordings")) readsOfAll += 1;
  });
  await host.check('#destinations input[value="youtube"]');
  await host.click("#go-out");
  await host.waitForSelector('#stream-state[data-state="live"]', { timeout: STEP_MS });
  // The read that showed it live was the last: the next comes a minute after it at most.
  const lastRead = Date.now();
  await host.evaluate(() => (window.cutOff = true));
  const [before, allBefore] = [reads, readsOfAll];
  const stopped = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/StopStream`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ roomName: ROOM }),
  });
  if (!stopped.ok) throw new Error(`StopStream answered ${stopped.status}: ${await stopped.text()}`);
  say("the room's admin stopped the stream; the studio hears none of its events");
  await host
    .waitForSelector('#stream-state[data-state="ended"]', { timeout: LIVE_CHECK_MS - (Date.now() - lastRead) + SLACK_MS })
    .catch(async () => {
      throw new Error(`a minute on, the studio still shows the stream ${await host.$eval("#stream-state", (e) => e.dataset.state)}`);
    });
  await host.waitForSelector("#out-badge", { state: "hidden", timeout: 1_000 });
  // Reads beside a read of everything (a dropped connection's) are not the panel's own; one of
  // them may find the end, and the panel's own read then never comes.
  const ofAll = readsOfAll - allBefore;
  const own = reads - before - ofAll;
  if (own > 1 || (own !== 1 && ofAll === 0)) throw new Error(`the studio read the live stream ${own} times in a minute, not once`);
  if (ofAll) say(`the studio read everything again ${ofAll} times meanwhile (a dropped connection)`);
  say(`the studio found the stream ended ${((Date.now() - lastRead) / 1000).toFixed(0)} s after its last read, with one read`);
});

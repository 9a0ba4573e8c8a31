// The host restreams the show from the studio: the destinations configured on the service by name,
// a checkbox each; Go out to youtube, LIVE beside it and the OUT badge as soon as LiveKit's egress
// is live (the stream_* ShowEvents tell the studio, whose fallback read would come only 30 s
// later); twitch added and youtube removed while it runs (the last destination cannot be
// unchecked), the page not asking while the stream is live (its check of a live stream comes a
// minute later: restream_lost_end.mjs); a reload that finds the stream
// still live to twitch; Stop restream, the stream ended and the page no longer asking; going out
// again, a failure LiveKit reports, shown with the service's redacted error; going out to youtube
// and the room's admin (the app's backend) adding twitch, shown on its event; the show ended
// mid-stream, with the panel not brought back by a read answered before the end. The page
// only ever sees names: no stream key in its DOM, its console or any answer the service gave it.
// Run by tests/test_browser_show.py against a service whose egress calls go to the tests'
// stand-in, playing the egress worker too; the test checks the URLs the stand-in was asked for.
import { ADMIN_TOKEN, BASE_URL, ROOM, STEP_MS, goLive, inBrowser, noticeSays, say, seesVideo } from "./browser.mjs";

/** The studio's fallback read of a stream that is starting or ending (restream.ts). */
const FALLBACK_MS = 30_000;

/** UpdateStream as the room's admin (the app's backend), outside the studio. */
async function adminUpdates(add, remove) {
  const answer = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/UpdateStream`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ roomName: ROOM, addDestinations: add, removeDestinations: remove }),
  });
  if (!answer.ok) throw new Error(`UpdateStream answered ${answer.status}: ${await answer.text()}`);
}

const KEYS = (process.env.STREAM_KEYS ?? "").split(",").filter(Boolean);
if (!KEYS.length) throw new Error("STREAM_KEYS names the stream keys the page must never see");

/** The destinations' checkboxes as the page shows them: name → "on"/"off", "(disabled)" added. */
async function boxes(page) {
  return page.$$eval("#destinations input", (inputs) =>
    Object.fromEntries(inputs.map((input) => [input.value, `${input.checked ? "on" : "off"}${input.disabled ? " (disabled)" : ""}`])),
  );
}

async function boxesShow(page, expected) {
  const want = JSON.stringify(expected);
  await page
    .waitForFunction(
      (w) => {
        const inputs = [...document.querySelectorAll("#destinations input")];
        const shown = Object.fromEntries(inputs.map((i) => [i.value, `${i.checked ? "on" : "off"}${i.disabled ? " (disabled)" : ""}`]));
        return JSON.stringify(shown) === w;
      },
      want,
      { timeout: STEP_MS },
    )
    .catch(async () => {
      throw new Error(`expected the destinations ${want}, the page shows ${JSON.stringify(await boxes(page))}`);
    });
}

async function streamShows(page, state, text) {
  await page
    .waitForFunction(
      ([s, t]) => {
        const shown = document.querySelector("#stream-state");
        return shown && !shown.hidden && shown.dataset.state === s && shown.textContent === t;
      },
      [state, text],
      { timeout: STEP_MS },
    )
    .catch(async () => {
      const shown = await page.$eval("#stream-state", (e) => `${e.dataset.state}: ${e.textContent}`);
      throw new Error(`expected the stream ${state} (${JSON.stringify(text)}), the page shows ${shown}`);
    });
}

await inBrowser(async (open, logs) => {
  const answers = [];
  let listings = 0;
  let listedAt = 0;
  // Every answer the service gives the studio, and how often it reads the streams.
  const watched = async (name, path) => {
    const page = await open(name, path);
    page.on("response", (response) => {
      if (response.url().includes("/twirp/")) answers.push(response.text().catch(() => ""));
    });
    page.on("request", (request) => {
      if (request.url().endsWith("/ListStreams")) [listings, listedAt] = [listings + 1, Date.now()];
    });
    return page;
  };
  // How many reads the studio has made, once it has made none for a second: a read that follows
  // an event of the change just shown (the stream live, updated) is that change's, not a poll.
  const settledListings = async (page) => {
    while (Date.now() - listedAt < 1_000) await page.waitForTimeout(200);
    return listings;
  };
  const keysAbsent = async (page, when) => {
    const places = { DOM: await page.content(), console: logs.join("\n"), answers: (await Promise.all(answers)).join("\n") };
    for (const [place, text] of Object.entries(places)) {
      if (KEYS.some((key) => text.includes(key))) throw new Error(`a stream key reached the studio's ${place} ${when}`);
    }
  };

  const host = await goLive(watched, "jane");
  await boxesShow(host, { twitch: "off", youtube: "off" });
  await host.waitForSelector("#go-out:not([hidden]):disabled", { timeout: STEP_MS });
  if (!(await host.isHidden("#restream-none"))) throw new Error("the studio says no destination is configured");
  say("the studio offers the configured destinations by name, Go out waiting for one to be checked");

  await host.check('#destinations input[value="youtube"]');
  const clicked = Date.now();
  await host.click("#go-out");
  await noticeSays(host, "info", "Going out to youtube.");
  await streamShows(host, "live", "Live to youtube");
  // The egress goes live a moment after the answer, which the page read while it was starting:
  // only the stream_live event can have brought it, the fallback read being 30 s away.
  const tookMs = Date.now() - clicked;
  if (tookMs > FALLBACK_MS / 3) throw new Error(`the studio showed the stream live ${tookMs} ms after Go out, as a poll would`);
  await host.waitForSelector("#out-badge:not([hidden])", { timeout: STEP_MS });
  await host.waitForSelector("#stop-restream:not([hidden])", { timeout: STEP_MS });
  await boxesShow(host, { twitch: "off", youtube: "on (disabled)" });
  await host.waitForSelector("#restream-last:not([hidden])", { timeout: STEP_MS });
  await keysAbsent(host, "going out");
  say("the host went out to youtube: the studio shows it live with OUT, its only destination kept");

  await host.check('#destinations input[value="twitch"]');
  await noticeSays(host, "info", "Restreaming to twitch too.");
  await streamShows(host, "live", "Live to youtube, twitch");
  await boxesShow(host, { twitch: "on", youtube: "on" });
  await host.uncheck('#destinations input[value="youtube"]');
  await noticeSays(host, "info", "Stopped restreaming to youtube.");
  await streamShows(host, "live", "Live to twitch");
  await boxesShow(host, { twitch: "on (disabled)", youtube: "off" });
  await keysAbsent(host, "changing destinations");
  const whileLive = await settledListings(host);
  await host.waitForTimeout(5_000); // the events tell the studio: it does not ask a live stream for a minute
  if (listings !== whileLive) throw new Error(`the studio kept reading the live stream (${listings - whileLive} reads)`);
  say("the host added twitch and removed youtube while live; live, the studio does not ask");

  await host.reload();
  await host.click("#go-live button[type=submit]");
  await seesVideo(host, "jane");
  await streamShows(host, "live", "Live to twitch");
  await host.waitForSelector("#out-badge:not([hidden])", { timeout: STEP_MS });
  await boxesShow(host, { twitch: "on (disabled)", youtube: "off" });
  say("after a reload the studio finds the stream still live to twitch");

  await host.click("#stop-restream");
  await noticeSays(host, "info", "The restream is stopping.");
  await streamShows(host, "ended", "Ended");
  await host.waitForSelector("#out-badge", { state: "hidden", timeout: STEP_MS });
  await host.waitForSelector("#go-out:not([hidden]):enabled", { timeout: STEP_MS });
  await boxesShow(host, { twitch: "on", youtube: "off" });
  const before = await settledListings(host);
  await host.waitForTimeout(4_000); // longer than the page's polling period
  if (listings !== before) throw new Error(`the studio kept reading the ended stream (${listings - before} reads)`);
  say("the host stopped the restream: ended, OUT gone, and the studio stopped asking");

  // The egress worker cannot reach twitch's server (the stand-in's `unreachable`): LiveKit reports
  // the failure quoting the URL, which the service redacts to the destination's name.
  await host.click("#go-out");
  await noticeSays(host, "info", "Going out to twitch.");
  await streamShows(host, "failed", "Failed: failed to connect to <twitch>: i/o timeout");
  await host.waitForSelector("#out-badge", { state: "hidden", timeout: STEP_MS });
  await host.waitForSelector("#go-out:not([hidden]):enabled", { timeout: STEP_MS });
  say("going out again to twitch failed: the studio shows the service's error, with twitch's name only");

  await host.uncheck('#destinations input[value="twitch"]');
  await host.check('#destinations input[value="youtube"]');
  await host.click("#go-out");
  await streamShows(host, "live", "Live to youtube");
  // A change the studio did not make: the room's admin adds twitch, and the stream_updated event
  // brings it, with one read and no poll.
  const beforeAdmin = await settledListings(host);
  await adminUpdates(["twitch"], []);
  await streamShows(host, "live", "Live to youtube, twitch");
  await boxesShow(host, { twitch: "on", youtube: "on" });
  if (listings - beforeAdmin !== 1) throw new Error(`the studio read the streams ${listings - beforeAdmin} times for one event`);
  say("the room's admin added twitch from the backend: the studio shows it at once, on the event");

  // The page's read on the admin's next change answers while the stream is live, but reaches the
  // page only after the host ended the show: it must not bring the panel back.
  let caught;
  const polled = new Promise((resolve) => (caught = resolve));
  let release;
  const released = new Promise((resolve) => (release = resolve));
  await host.route("**/ListStreams", async (route) => {
    const response = await route.fetch();
    caught();
    await released;
    await route.fulfill({ response });
  });
  await adminUpdates([], ["twitch"]);
  await polled;
  await host.click("#end-show");
  await host.click("dialog.confirm button.yes");
  await noticeSays(host, "ended", "The show has ended.");
  release();
  await host.waitForTimeout(1_000);
  const after = await host.evaluate(() => ({
    out: !document.querySelector("#out-badge").hidden,
    enabled: [...document.querySelectorAll("#restream button, #restream input")].filter((e) => !e.hidden && !e.disabled).length,
  }));
  if (after.out || after.enabled) throw new Error(`an answer read before the end brought the restream back: ${JSON.stringify(after)}`);
  await keysAbsent(host, "by the end");
  say("the host ended the show mid-stream: a read answered before the end does not bring OUT or the controls back");
});

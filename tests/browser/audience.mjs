// The studio's audience never grows with the show: it lists a page of viewers by name (here two,
// #pageSize=2), says how many more there are with Show more, and once the audience outgrows a
// page offers a box that finds viewers by name; the count is always the whole audience's. The
// host finds cat by name and invites her from the search's answer. Run by tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, say, seesVideo } from "./browser.mjs";

/** What the studio shows of the audience: who it lists, its count, the line under the list. */
function audienceNow() {
  return JSON.stringify({
    names: [...document.querySelectorAll("#audience li[data-identity]")].map((li) => li.dataset.identity),
    count: document.querySelector("#audience-count")?.textContent,
    more: document.querySelector("#audience + .more:not([hidden]) span")?.textContent ?? "",
  });
}

/** Waits until the studio lists `names`, counts `count` viewers and says `more` under the list ("" when hidden). */
async function audienceIs(host, names, count, more) {
  const want = JSON.stringify({ names, count: String(count), more });
  const deadline = Date.now() + STEP_MS;
  let now = await host.evaluate(audienceNow);
  while (now !== want) {
    if (Date.now() > deadline) throw new Error(`expected the audience to be ${want}, it is ${now}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    now = await host.evaluate(audienceNow);
  }
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane", "pageSize=2");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const viewers = {};
  for (const name of ["cat", "ann", "bob"]) {
    viewers[name] = await open(name, `/watch/${ROOM}#name=${name}`);
    await viewers[name].click("#join button[type=submit]");
    await seesVideo(viewers[name], "jane");
  }
  await audienceIs(host, ["ann", "bob"], 3, "and 1 more");
  if (await host.isHidden(".find-viewer")) throw new Error("the find box is hidden with the audience past a page");
  say("three viewers joined: the studio lists ann and bob, counts 3 and says 1 more, with a box to find viewers");

  await host.click("#audience + .more button");
  await audienceIs(host, ["ann", "bob", "cat"], 3, "");
  say("Show more lists cat too, and nothing more");

  await host.fill(".find-viewer", "CA");
  await audienceIs(host, ["cat"], 3, "");
  await host.click('#audience li[data-identity="cat"] button.invite');
  await viewers.cat.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  say("the host found cat by name (whatever its case) and invited her from the search's answer");

  await host.fill(".find-viewer", "nobody");
  await host.waitForFunction(() => document.querySelector("#audience li.none")?.textContent === 'Nobody in the audience is called "nobody".', null, { timeout: STEP_MS });
  await host.fill(".find-viewer", "");
  await audienceIs(host, ["ann", "bob"], 3, "and 1 more");
  say("a name nobody has says so; the box emptied, the list is back to its first page");

  await viewers.bob.close();
  await audienceIs(host, ["ann", "cat"], 2, "");
  if (!(await host.isHidden(".find-viewer"))) throw new Error("the find box still shows with the audience within a page");
  say("bob left: the count says 2, both fit on a page, and the box is gone");
});

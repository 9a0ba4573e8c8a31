// A service with no restream destinations configured: the studio's Restream panel says so and
// offers nothing (no checkbox, no Go out), and the page reads ListStreams once, on joining, never
// again on its own: only beside a read of everything the studio shows (on joining, and again
// after a dropped connection, which a loaded machine may bring), which reads ListRecordings too.
// Run by tests/test_browser_show.py against a service without SHOW_STREAM_DESTINATIONS.
import { STEP_MS, goLive, inBrowser, say } from "./browser.mjs";

await inBrowser(async (open) => {
  let listings = 0;
  let readsOfAll = 0;
  const counted = async (name, path) => {
    const page = await open(name, path);
    page.on("request", (request) => {
      if (request.url().endsWith("/ListStreams")) listings += 1;
      if (request.url().endsWith("/ListRecordings")) readsOfAll += 1;
    });
    return page;
  };
  const host = await goLive(counted, "jane");
  await host.waitForSelector("#restream-none:not([hidden])", { timeout: STEP_MS });
  const says = await host.textContent("#restream-none");
  if (says !== "No restream destinations are configured on the service") throw new Error(`the panel says ${JSON.stringify(says)}`);
  const offered = await host.$$eval("#restream input, #restream button:not([hidden]), #restream ul:not([hidden])", (found) => found.length);
  if (offered) throw new Error(`the panel offers ${offered} controls with nothing to stream to`);
  if (!(await host.isHidden("#stream-state")) || !(await host.isHidden("#out-badge"))) throw new Error("the studio shows a stream");
  await host.waitForTimeout(4_000); // longer than the page's polling period
  if (listings !== readsOfAll || readsOfAll < 1) {
    throw new Error(`the studio read ListStreams ${listings} times beside ${readsOfAll} reads of everything; once, on joining, is enough`);
  }
  say("with no destination configured the studio says so, offers nothing and asks once");
});

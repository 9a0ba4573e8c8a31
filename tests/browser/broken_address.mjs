// A page whose address holds a room name that cannot be read (a link cut short in the middle of a
// percent-escape) says so, rather than staying blank: the watch page at /watch/<room>%E0%A4 and the
// studio at /studio/<room>%zz each say in their notice that the address names no show, and offer
// no form to join or open one. Run by tests/test_browser_show.py.
import { ROOM, STEP_MS, inBrowser, noticeIs, say } from "./browser.mjs";

const UNREADABLE = "This address names no show: the room name in it is broken (a link cut short, or mistyped). Check the link, or find the show from the home page.";

await inBrowser(async (open) => {
  for (const [name, path, form] of [
    ["watch", `/watch/${ROOM}%E0%A4`, "#join"],
    ["studio", `/studio/${ROOM}%zz`, "#go-live"],
  ]) {
    const page = await open(name, path);
    await noticeIs(page, "error", UNREADABLE);
    await page.waitForSelector(form, { state: "hidden", timeout: STEP_MS });
    say(`the ${name} page at ${path} says its address names no show, and offers no form`);
  }
});

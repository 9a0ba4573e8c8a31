// The landing page takes only a room name the service accepts: "My Show" (a space) stays on the
// page with the browser's own hint, in words a person reads ("letters, digits..."), where the
// watch page would have said roomName must be... only after asking for the viewer's name; "my-show"
// goes to its watch page. Run by tests/test_browser_show.py.
import { inBrowser, say } from "./browser.mjs";

await inBrowser(async (open) => {
  const landing = await open("landing", "/");
  await landing.fill("#watch-form input[name=room]", "My Show");
  await landing.click("#watch-form button[type=submit]");
  await landing.waitForTimeout(500);
  if (new URL(landing.url()).pathname !== "/") throw new Error(`"My Show" went to ${landing.url()}`);
  const hint = await landing.$eval("#watch-form input[name=room]", (input) => (input.validity.valid ? "" : input.title));
  if (!hint.includes("letters, digits")) throw new Error(`the room's box says ${JSON.stringify(hint)} of "My Show"`);
  say('"My Show" stays on the landing page, whose box says what a room name is');

  await landing.fill("#watch-form input[name=room]", "my-show");
  await landing.click("#watch-form button[type=submit]");
  await landing.waitForURL((url) => url.pathname === "/watch/my-show");
  say('"my-show" goes to its watch page');
});

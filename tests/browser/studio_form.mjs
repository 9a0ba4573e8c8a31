// The studio's form never puts the admin token in the address. Before the studio's script has
// taken the form over (it is slow to load, or fails to), the host fills in a name and the admin
// token and presses Enter: the browser sends nothing, and the address stays as it was. An admin
// token that reached the address all the same (?admin=… in a link) is taken out of it by the
// script, which uses only the fragment's, and the form then works. Run by tests/test_browser_show.py.
import { ADMIN_TOKEN, ROOM, STEP_MS, inBrowser, say } from "./browser.mjs";

const SCRIPT = "**/assets/studio-*.js";

await inBrowser(async (open) => {
  const studio = await open("studio", `/studio/${ROOM}`);
  await studio.route(SCRIPT, (route) => route.abort());
  await studio.reload();
  await studio.fill("#go-live input[name=name]", "jane");
  await studio.fill("#go-live input[name=admin]", ADMIN_TOKEN);
  await studio.press("#go-live input[name=admin]", "Enter");
  await studio.waitForTimeout(1_000);
  if (!(await studio.$("#go-live"))) throw new Error(`Enter in the studio's form, before its script ran, sent it: the page is now ${JSON.stringify(await studio.textContent("body"))}`);
  const url = new URL(studio.url());
  if (url.search || url.pathname !== `/studio/${ROOM}`) throw new Error(`Enter in the studio's form, before its script ran, went to ${url.pathname}${url.search.replace(ADMIN_TOKEN, "<admin token>")}`);
  say("before the studio's script ran, Enter in its form sent nothing: the address has no admin token");

  await studio.unroute(SCRIPT);
  await studio.goto(`${studio.url().split("?")[0]}?admin=${ADMIN_TOKEN}#name=jane`);
  await studio.waitForFunction(() => !window.location.search, null, { timeout: STEP_MS }).catch(async () => {
    throw new Error(`the studio left the admin token in its address: ${(await studio.evaluate(() => window.location.search)).replace(ADMIN_TOKEN, "<admin token>")}`);
  });
  if ((await studio.inputValue("#go-live input[name=admin]")) !== "") throw new Error("the studio took the admin token from the query");
  say("an admin token in the query is taken out of the address, and not used");
  await studio.fill("#go-live input[name=admin]", ADMIN_TOKEN);
  await studio.click("#go-live button[type=submit]");
  await studio.waitForSelector("#studio:not([hidden])", { timeout: STEP_MS });
  say("taken over by its script, the studio's form opens the show");
});

/** The landing page, /: where a host opens the studio and a viewer finds the show. */
import "./style.css";

function goTo(formId: string, page: "studio" | "watch"): void {
  const form = document.querySelector<HTMLFormElement>(formId)!;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = String(new FormData(form).get("room") ?? "").trim();
    window.location.assign(`/${page}/${encodeURIComponent(room)}`);
  });
}

goTo("#host-form", "studio");
goTo("#watch-form", "watch");

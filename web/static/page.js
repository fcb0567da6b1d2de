// Enhancements only: the page works the same without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A reference shown beside its marker stays inside the window, and Escape closes it.
  for (const link of document.querySelectorAll(".cite__link")) {
    const tip = link.querySelector(".cite__tip");
    const place = () => {
      link.classList.remove("cite__link--closed");
      tip.style.left = "";
      const over = tip.getBoundingClientRect().right - (document.documentElement.clientWidth - 8);
      if (over > 0) tip.style.left = `${-over}px`;
    };
    link.addEventListener("focus", place);
    link.addEventListener("mouseenter", place);
    link.addEventListener("keydown", (event) => {
      if (event.key === "Escape") link.classList.add("cite__link--closed");
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const link of document.querySelectorAll(".cite__link:hover")) {
      link.classList.add("cite__link--closed");
    }
  });

  // A printed declined answer shows the closest passages it says are listed (a closed
  // <details> prints its summary alone); the page is as it was after printing.
  let opened = [];
  window.addEventListener("beforeprint", () => {
    opened = [...document.querySelectorAll("details.closest:not([open])")];
    opened.forEach((d) => { d.open = true; });
  });
  window.addEventListener("afterprint", () => {
    opened.forEach((d) => { d.open = false; });
    opened = [];
  });

  // A print button next to the answer's disclaimer (printing works from the browser menu too).
  const disclaimer = document.querySelector(".page--answer .disclaimer");
  if (disclaimer && typeof window.print === "function") {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button--secondary print-button";
    button.textContent = "Print this answer";
    button.addEventListener("click", () => window.print());
    disclaimer.insertAdjacentElement("afterend", button);
  }

  // Judgements of a passage go by fetch and are confirmed in place; without this file the same
  // forms post and come back to the answer with a notice.
  for (const form of document.querySelectorAll("form.feedback")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (form.dataset.pending) return; // one judgement at a time
      form.dataset.pending = "1";
      const pressed = event.submitter;
      const status = form.querySelector(".feedback__status");
      const buttons = form.querySelectorAll("button");
      const body = new URLSearchParams(new FormData(form));
      if (pressed && pressed.name) body.set(pressed.name, pressed.value); // any browser
      buttons.forEach((b) => b.setAttribute("aria-disabled", "true"));
      let message = "Not saved: the connection failed. Try again.";
      let saved = false;
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body,
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        const type = response.headers.get("content-type") || "";
        if (type.includes("application/json")) {
          const data = await response.json();
          message = data.message;
          saved = Boolean(data.saved);
        } else {
          message = `Not saved (the server answered ${response.status}). Reload the page and try again.`;
        }
      } catch (error) {
        // the message above stands
      }
      buttons.forEach((b) => b.removeAttribute("aria-disabled"));
      delete form.dataset.pending;
      status.textContent = message;
      if (saved) {
        form.classList.add("feedback--sent");
        buttons.forEach((b) => { b.hidden = true; });
        status.tabIndex = -1; // the pressed button is gone: keep the keyboard on its result
        status.focus();
      } else if (pressed) {
        pressed.focus();
      }
    });
  }

  // The desk's build page follows its build until it ends; without this file, "Check again".
  const build = document.querySelector(".desk-build[data-state='running']");
  if (build) {
    const follow = async () => {
      try {
        const response = await fetch(`/desk/builds/${build.dataset.build}`, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.status === 401 || response.status === 404) {
          // signed out (here or in another tab): "Check again" leads to the login
          build.querySelector(".desk-build__message").textContent =
            "Signed out: sign in again to follow the build.";
          return;
        }
        if (response.ok) {
          const data = await response.json();
          build.querySelector(".desk-build__log").textContent = data.log.join("\n");
          build.querySelector(".desk-build__serving code").textContent = data.serving;
          if (data.state !== "running") {
            build.dataset.state = data.state;
            build.querySelector(".desk-build__state").textContent =
              data.state === "published" ? "Published" : "Failed";
            build.querySelector(".desk-build__message").textContent = data.message || "";
            const cancel = build.querySelector(".desk-build__cancel");
            if (cancel) cancel.hidden = true;
            return;
          }
        }
      } catch (error) {
        // the network failed for a moment: try again
      }
      window.setTimeout(follow, 1500);
    };
    window.setTimeout(follow, 1500);
  }

  // After a judgement sent without this file, the answer's address says so: a colleague given
  // the link, or a reload, must not see the thank-you again.
  const url = new URL(window.location.href);
  if (url.searchParams.has("feedback")) {
    url.searchParams.delete("feedback");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
});

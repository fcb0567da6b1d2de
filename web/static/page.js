// Enhancements only: the page works the same without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // After an answer, keep the keyboard in the follow-up box without scrolling the answer away.
  const followUp = document.querySelector("input[data-follow-up]");
  if (followUp && !window.location.hash && !document.querySelector("[autofocus]")) {
    followUp.focus({ preventScroll: true });
  }

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
      const status = form.querySelector(".feedback__status");
      const buttons = form.querySelectorAll("button");
      const body = new URLSearchParams(new FormData(form, event.submitter));
      buttons.forEach((b) => { b.disabled = true; });
      let message = "Not saved: the connection failed. Try again.";
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body,
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        const data = await response.json();
        message = data.message;
        if (data.saved) {
          form.classList.add("feedback--sent");
          buttons.forEach((b) => { b.hidden = true; });
          status.tabIndex = -1; // the pressed button is gone: keep the keyboard on its result
          status.textContent = message;
          status.focus();
          return;
        } else {
          buttons.forEach((b) => { b.disabled = false; });
        }
      } catch (error) {
        buttons.forEach((b) => { b.disabled = false; });
      }
      status.textContent = message;
    });
  }
});

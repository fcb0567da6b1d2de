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
});

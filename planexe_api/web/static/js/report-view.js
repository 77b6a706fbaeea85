// Show the report inside the page (a sandboxed frame: the report's own scripts, if any
// ever appear, do not run) or hide it again.
export function initReportView(button, frame) {
  if (!button || !frame) return;
  button.addEventListener("click", () => {
    const show = frame.hidden;
    if (show && !frame.getAttribute("src")) frame.setAttribute("src", frame.dataset.src);
    frame.hidden = !show;
    button.setAttribute("aria-expanded", String(show));
    button.textContent = show ? "Hide the report" : "Show the report here";
  });
}

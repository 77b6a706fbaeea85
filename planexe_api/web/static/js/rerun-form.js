// Regenerate a task from its panel: POST /plans/{id}/rerun with the task and the feedback,
// then say what runs again (the API's answer) and let the page follow the new run. The
// panel is drawn by the server and replaced when it reloads, so the form is found by a
// listener on the document, not bound once.
import { api, showMessage } from "./api.js";

export function initRerunForms(message, onDone) {
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-rerun]");
    if (!form) return;
    event.preventDefault();
    const button = form.querySelector("button");
    const feedback = form.querySelector("textarea").value.trim();
    button.disabled = true;
    showMessage(message, "");
    try {
      const answer = await api("POST", form.action, { tasks: [form.dataset.rerun], ...(feedback ? { feedback } : {}) });
      const count = answer.tasks.length;
      showMessage(
        message,
        `Regenerating ${count} task${count === 1 ? "" : "s"} (${answer.llm_calls_planned} LLM calls): ${answer.tasks.join(", ")}. The other ${answer.kept} are kept.`,
        "ok",
      );
      form.hidden = true;
      onDone(answer.plan);
    } catch (err) {
      showMessage(message, err.message);
      button.disabled = false;
    }
  });
}

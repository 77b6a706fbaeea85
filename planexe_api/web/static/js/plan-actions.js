// Cancel and resume: POST to the API, show its answer (or its error message as it is).
import { api, showMessage } from "./api.js";

export function initPlanActions(root, message, onDone) {
  for (const form of root.querySelectorAll("form[data-action]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      const action = form.dataset.action;
      button.disabled = true;
      showMessage(message, "");
      try {
        const plan = await api("POST", form.action);
        const text =
          action === "cancel"
            ? plan.status === "cancelled"
              ? "Cancelled."
              : "Cancel requested: the runner stops the plan within a few seconds."
            : "Resumed: the plan is queued again and keeps its finished tasks.";
        showMessage(message, text, "ok");
        onDone(action, plan);
      } catch (err) {
        showMessage(message, err.message);
      } finally {
        button.disabled = false;
      }
    });
  }
}

// The new-plan form: a live character count against the limit, example prompts, and a
// submit that posts JSON to /plans (with an Idempotency-Key, so a double click makes one
// plan) and opens the new plan's page. Errors show the API's message.
import { api, showMessage } from "./api.js";

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

export function initPlanForm(form) {
  if (!form) return;
  const prompt = form.querySelector("#prompt");
  const count = form.querySelector("#prompt-count");
  const error = form.querySelector("#new-plan-error");
  const submit = form.querySelector('button[type="submit"]');
  const max = Number(form.dataset.max);
  const format = new Intl.NumberFormat("en");
  let key = newKey();

  const update = () => {
    const length = [...prompt.value.trim()].length;
    count.textContent = `${format.format(length)} of ${format.format(max)} characters`;
    count.classList.toggle("notice-error", length > max);
  };
  prompt.addEventListener("input", () => {
    key = newKey(); // a different prompt is a different plan
    update();
  });
  form.querySelectorAll("button[data-example]").forEach((button) => {
    button.addEventListener("click", () => {
      prompt.value = button.dataset.example;
      key = newKey();
      update();
      prompt.focus();
    });
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showMessage(error, "");
    const body = {
      prompt: prompt.value,
      detail: form.querySelector('input[name="detail"]:checked').value,
    };
    const model = form.querySelector("#llm-model");
    if (model && model.value) body.llm_model = model.value;
    submit.disabled = true;
    try {
      const plan = await api("POST", "/plans", body, { "Idempotency-Key": key });
      location.assign(`/plans/${plan.id}/view`);
    } catch (err) {
      showMessage(error, err.message);
      submit.disabled = false;
      prompt.focus();
    }
  });
  update();
}

// The plan list: status filter, prompt search and "older plans" without reloading the page,
// and a refresh every few seconds while any plan is queued or running (every 15 s
// otherwise, none while the tab is hidden). Each view is the server's own HTML for the same
// query (/?fragment=...), and the address bar keeps the query, so a reload shows the same.
import { fragment } from "./api.js";

const ACTIVE_REFRESH_MS = 2000;
const IDLE_REFRESH_MS = 15000;
const SEARCH_DELAY_MS = 250;
const REFRESH_MAX = 100;

export function initPlanList(body, searchForm) {
  if (!body) return;
  const params = new URLSearchParams(location.search);
  params.delete("cursor");
  let timer = null;
  let searchTimer = null;
  let generation = 0; // answers to an older query are dropped

  const rowCount = () => body.querySelectorAll("#plan-rows tr").length;
  const active = () => body.querySelector(".status-filter")?.dataset.active === "True";

  function listUrl(extra = {}) {
    const query = new URLSearchParams(params);
    for (const [k, v] of Object.entries(extra)) query.set(k, v);
    return `/?${query}`;
  }

  async function reload({ keepRows = false } = {}) {
    const mine = ++generation;
    const limit = keepRows ? Math.min(REFRESH_MAX, Math.max(20, rowCount())) : 20;
    body.setAttribute("aria-busy", "true");
    try {
      const { html } = await fragment(listUrl({ fragment: "list", limit: String(limit) }));
      if (mine !== generation) return;
      if (html !== body.innerHTML) swap(html);
    } catch (err) {
      showError(err.message);
    } finally {
      body.setAttribute("aria-busy", "false");
      schedule();
    }
  }

  function swap(html) {
    // Keep the keyboard where it was: find the same link after the swap.
    const focused = body.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    body.innerHTML = html;
    if (focused) body.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
  }

  function showError(message) {
    let note = body.querySelector(".list-error");
    if (!note) {
      note = document.createElement("p");
      note.className = "notice notice-error list-error";
      note.setAttribute("role", "alert");
      body.prepend(note);
    }
    note.textContent = message;
  }

  function schedule() {
    clearTimeout(timer);
    if (document.hidden) return;
    timer = setTimeout(() => reload({ keepRows: true }), active() ? ACTIVE_REFRESH_MS : IDLE_REFRESH_MS);
  }

  function setQuery(name, value) {
    if (value) params.set(name, value);
    else params.delete(name);
    history.replaceState(null, "", params.toString() ? `/?${params}` : "/");
    const hidden = searchForm?.querySelector('input[name="status"]');
    if (name === "status" && hidden) hidden.value = value;
    reload();
  }

  body.addEventListener("click", async (event) => {
    const link = event.target.closest("a");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey) return;
    if (link.closest(".status-filter")) {
      event.preventDefault();
      setQuery("status", link.dataset.status);
    } else if (link.id === "more-plans") {
      event.preventDefault();
      try {
        const { html, response } = await fragment(listUrl({ fragment: "rows", cursor: link.dataset.cursor }));
        const rows = body.querySelector("#plan-rows");
        const firstNew = rows.rows.length;
        rows.insertAdjacentHTML("beforeend", html);
        const next = response.headers.get("X-Next-Cursor");
        if (next) {
          link.dataset.cursor = next;
          link.href = listUrl({ cursor: next });
        } else {
          link.closest("p").remove();
        }
        rows.rows[firstNew]?.querySelector("a")?.focus();
      } catch (err) {
        showError(err.message);
      }
    }
  });

  if (searchForm) {
    const input = searchForm.querySelector('input[name="q"]');
    searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      setQuery("q", input.value.trim());
    });
    input.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => setQuery("q", input.value.trim()), SEARCH_DELAY_MS);
    });
  }
  document.addEventListener("visibilitychange", () => (document.hidden ? clearTimeout(timer) : reload({ keepRows: true })));
  schedule();
}

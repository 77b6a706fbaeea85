// Calls to the PlanExe API from the pages. An error carries the API's own message
// ({"code", "message"}), which the pages show as it is.

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(response) {
  let code = "http_error";
  let message = `The service answered ${response.status} ${response.statusText}.`;
  try {
    const body = await response.json();
    if (body && body.message) {
      message = body.message;
      code = body.code || code;
    }
  } catch (_) {
    // Not JSON (a proxy's error page, say): keep the status line.
  }
  if (response.status === 401) {
    message = `${message} Log in again: ${location.origin}/login`;
  }
  return new ApiError(message, response.status, code);
}

function unreachable(err) {
  return new ApiError(`The service cannot be reached (${err.message}); is it running?`, 0, "unreachable");
}

export async function api(method, url, body, headers = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw unreachable(err);
  }
  if (!response.ok) throw await errorOf(response);
  return response.status === 204 ? null : response.json();
}

// A server-rendered part of a page (HTML), with the response for its headers.
export async function fragment(url) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" }, cache: "no-store" });
  } catch (err) {
    throw unreachable(err);
  }
  if (response.redirected && new URL(response.url).pathname === "/login") {
    throw new ApiError("The session has ended: log in again.", 401, "unauthorized");
  }
  if (!response.ok) throw await errorOf(response);
  return { html: await response.text(), response };
}

export function showMessage(element, message, kind = "error") {
  element.textContent = message;
  element.classList.toggle("notice-error", kind === "error");
  element.classList.toggle("notice-ok", kind === "ok");
  element.hidden = !message;
}

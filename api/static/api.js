/* Tactful pages: the shared fetch/auth helper and a few DOM helpers (no build step, no dependencies).
 *
 * Key handling: a key in the URL fragment (#key=...) wins and is removed from the address bar; the key is kept
 * in sessionStorage per page role (in memory when storage is blocked, e.g. in some third-party iframes).
 * A 401 or 403 answer forgets the key and shows the login form with the service's message (only an answer to the
 * key in use: one sent with a key since replaced is stale).
 *
 * Agent tokens: an agent of a helpdesk installation signs in as themselves with a short-lived token instead of a
 * key (embedded by the page for Zendesk's signed app, or obtained by the sidebar from Chatwoot's context). The token
 * is kept in memory only (never in storage, the URL or a cookie) and refreshed before it expires.
 */
(function () {
  "use strict";

  const body = document.body;
  const role = body.dataset.role || "agent";
  const devOpen = body.dataset.devOpen === "true";
  const storageName = "tactful.key." + role;
  const TOKEN_WAIT_MS = 8000;
  let memoryKey = null;
  let onSignedIn = null;
  let signedIn = false;
  let agentToken = null; // {token, expires_in, ...} as POST /v1/helpdesk/token answers it
  let renewToken = null; // how to get a new token when refreshing fails (the sidebar's helpdesk check again)
  let refreshTimer = null;
  const REFRESH_MARGIN_S = 60;

  /** An error answer of the API: `status` 0 means the service could not be reached. */
  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.code = code;
      this.field = field || null;
    }

    /** The key is missing, wrong or of the wrong role (a 403 about something else, such as a conversation the
     * helpdesk's token cannot see, keeps the agent signed in). */
    get isAuth() {
      return (this.status === 401 || this.status === 403) && (!this.field || this.field === "authorization");
    }
  }

  function storedKey() {
    try {
      return window.sessionStorage.getItem(storageName) || memoryKey;
    } catch (_) {
      return memoryKey;
    }
  }

  function storeKey(key) {
    memoryKey = key || null;
    try {
      if (key) window.sessionStorage.setItem(storageName, key);
      else window.sessionStorage.removeItem(storageName);
    } catch (_) {
      /* storage blocked: the in-memory copy is enough for this page's life */
    }
    updateLogout();
  }

  /** Take `key` out of the URL fragment (keeping any other fragment parameters). */
  function keyFromFragment() {
    const hash = window.location.hash.replace(/^#/, "");
    if (!hash || hash.indexOf("key=") === -1) return null;
    const params = new URLSearchParams(hash);
    const key = params.get("key");
    params.delete("key");
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? "#" + rest : "");
    try {
      window.history.replaceState(window.history.state, "", url);
    } catch (_) {
      /* sandboxed frames may refuse: the key still works */
    }
    return key ? key.trim() : null;
  }

  function loginParts() {
    return {
      section: document.getElementById("login"),
      form: document.getElementById("login-form"),
      input: document.getElementById("login-key"),
      error: document.getElementById("login-error"),
    };
  }

  function showLogin(message) {
    const parts = loginParts();
    if (!parts.section) return;
    body.classList.add("needs-login");
    parts.section.hidden = false;
    parts.error.textContent = message || "";
    parts.input.value = "";
    parts.input.focus();
  }

  function hideLogin() {
    const parts = loginParts();
    body.classList.remove("needs-login");
    if (parts.section) parts.section.hidden = true;
    if (parts.error) parts.error.textContent = "";
  }

  function updateLogout() {
    const link = document.getElementById("logout");
    if (link) link.hidden = devOpen || !memoryKey;
  }

  function currentKey() {
    const key = storedKey();
    memoryKey = key;
    return key;
  }

  async function parseBody(response) {
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (_) {
      return null;
    }
  }

  /**
   * Call the JSON API. Options: method, json (a body to send as JSON), form (a FormData), signal.
   * Resolves to the parsed body (null for 204); rejects with ApiError (or an AbortError).
   */
  async function send(path, opts, accept) {
    const headers = { Accept: accept };
    const key = agentToken ? agentToken.token : currentKey();
    if (key) headers.Authorization = "Bearer " + key;
    let payload;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(opts.json);
    } else if (opts.form) {
      payload = opts.form;
    }
    let response;
    try {
      response = await fetch(path, {
        method: opts.method || "GET", headers, body: payload, signal: opts.signal,
        credentials: "same-origin", cache: "no-store",
      });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "The service cannot be reached (" + (err && err.message) + ").");
    }
    if (!response.ok) {
      const data = await parseBody(response);
      const detail = (data && data.error) || {};
      const err = new ApiError(response.status, detail.code || "http_" + response.status,
        detail.message || "The service answered " + response.status + ".", detail.field);
      // Only the answer to the credential in use now signs the page out: a request sent with an earlier key (a
      // wrong one the person has since replaced) may answer after the new key signed in, and must not undo that.
      const inUse = agentToken ? agentToken.token : storedKey();
      if (err.isAuth && key === inUse) {
        if (agentToken) forgetToken();
        else storeKey(null);
        showLogin(err.message);
      }
      throw err;
    }
    return response;
  }

  /** A text answer (a CSV export) with the signed-in key. */
  async function text(path, options) {
    const response = await send(path, options || {}, "text/csv");
    return response.text();
  }

  async function request(path, options) {
    const response = await send(path, options || {}, "application/json");
    if (response.status === 204) return null;
    return parseBody(response);
  }

  /**
   * Call an endpoint that answers with server-sent events (a POST, so not EventSource): `onEvent(name, data)` for
   * each event as it arrives. Resolves when the stream ends; rejects like `request` (before any event) or with
   * an ApiError of status 0 when the stream breaks half way.
   */
  async function stream(path, options) {
    const opts = options || {};
    const response = await send(path, opts, "text/event-stream");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const dispatch = (block) => {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) opts.onEvent(name, JSON.parse(data.join("\n")));
    };
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (err && err.name === "AbortError") throw err;
        throw new ApiError(0, "network", "The stream broke off (" + (err && err.message) + ").");
      }
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
    if (buffer.trim()) dispatch(buffer);
  }

  /** Build an element: props may hold class, text, title, dataset, attrs, on (event handlers) and DOM properties. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    const p = props || {};
    for (const [name, value] of Object.entries(p)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = String(value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "attrs") for (const [a, v] of Object.entries(value)) node.setAttribute(a, String(v));
      else if (name === "on") for (const [evt, fn] of Object.entries(value)) node.addEventListener(evt, fn);
      else if (name === "style") node.setAttribute("style", value);
      else node[name] = value;
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else node.append(child instanceof Node ? child : String(child));
    }
  }

  /** Replace the children of `node` (text is always inserted as text). */
  function fill(node, ...children) {
    node.replaceChildren();
    append(node, children);
    return node;
  }

  /**
   * `text` with `<mark>` over each span; spans are {start, end, title, className} in Unicode code points
   * (Python's string offsets), converted here so characters outside the BMP (emoji) do not shift the marks.
   */
  function highlight(text, spans) {
    const frag = document.createDocumentFragment();
    const chars = Array.from(text || "");
    const valid = (spans || [])
      .filter((s) => Number.isInteger(s.start) && Number.isInteger(s.end) && s.end > s.start)
      .sort((a, b) => a.start - b.start || b.end - a.end);
    let pos = 0;
    for (const span of valid) {
      const start = Math.max(span.start, pos);
      const end = Math.min(span.end, chars.length);
      if (end <= start) continue;
      if (start > pos) frag.append(chars.slice(pos, start).join(""));
      frag.append(el("mark", { title: span.title || "", class: span.className || "" }, chars.slice(start, end).join("")));
      pos = end;
    }
    if (pos < chars.length) frag.append(chars.slice(pos).join(""));
    return frag;
  }

  function setStatus(message, isError) {
    const node = document.getElementById("status");
    if (!node) return;
    node.textContent = message || "";
    node.classList.toggle("error", Boolean(isError));
  }

  /** Show an error in the status line (auth errors already show the login form). */
  function reportError(err) {
    if (err && err.name === "AbortError") return;
    if (err instanceof ApiError && err.isAuth) return;
    setStatus((err && err.message) || String(err), true);
    if (!(err instanceof ApiError)) console.error(err);
  }

  function debounce(fn, ms) {
    let timer = null;
    const wrapped = function (...args) {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => fn.apply(this, args), ms);
    };
    wrapped.cancel = () => window.clearTimeout(timer);
    return wrapped;
  }

  function date(iso) {
    return iso ? String(iso).slice(0, 10) : "";
  }

  function dateTime(iso) {
    return iso ? String(iso).slice(0, 16).replace("T", " ") : "";
  }

  function percent(value) {
    return Number.isFinite(value) ? Math.round(value * 100) + "%" : "–";
  }

  /** A small horizontal bar for a 0..1 value; `grade` colours it (higher is better unless inverted). */
  function bar(value, options) {
    const opts = options || {};
    const v = Math.max(0, Math.min(1, Number(value) || 0));
    const good = opts.invert ? 1 - v : v;
    const grade = good >= 0.75 ? "good" : good >= 0.45 ? "mid" : "poor";
    return el("div", {
      class: "bar " + grade + (opts.className ? " " + opts.className : ""),
      attrs: { role: "meter", "aria-valuemin": 0, "aria-valuemax": 1, "aria-valuenow": v.toFixed(2),
        "aria-label": opts.label || "" },
    }, el("span", { style: "width:" + (v * 100).toFixed(1) + "%" }));
  }

  function forgetToken() {
    agentToken = null;
    window.clearTimeout(refreshTimer);
  }

  /** Sign in with an agent token (see the top of this file); `renew` gets a new one when refreshing fails. The
   * page loads at the first sign-in only: a new token for another conversation just replaces the old one. */
  function useAgentToken(issued, renew) {
    agentToken = issued;
    if (renew) renewToken = renew;
    window.clearTimeout(refreshTimer);
    const seconds = Math.max(5, Number(issued.expires_in || 0) - REFRESH_MARGIN_S);
    refreshTimer = window.setTimeout(refreshToken, seconds * 1000);
    if (!signedIn && onSignedIn) onSignedIn();
    else hideLogin();
  }

  async function refreshToken() {
    try {
      useAgentToken(await request("/v1/helpdesk/token/refresh", { method: "POST" }));
    } catch (err) {
      if (renewToken && !(err instanceof ApiError && err.status === 0)) {
        Promise.resolve().then(renewToken).catch(reportError);
      } else if (err instanceof ApiError && err.status === 0) {
        refreshTimer = window.setTimeout(refreshToken, 15000); // Tactful unreachable: try again soon
      }
    }
  }

  /** The token the page was rendered with (Zendesk's signed app): read once, then taken out of the DOM. */
  function embeddedToken() {
    const raw = body.dataset.agentToken;
    if (!raw) return null;
    delete body.dataset.agentToken;
    try {
      return JSON.parse(raw);
    } catch (_) {
      return null;
    }
  }

  /** Start a page: `setup()` once, then `load()` whenever a key is known (again after each sign-in). A page may
   * wait for an agent token (`awaitsToken()`: true while the helpdesk is expected to provide one) for up to
   * `TOKEN_WAIT_MS` before the key sign-in shows. */
  function boot(page) {
    const run = () => {
      const fragmentKey = keyFromFragment();
      if (fragmentKey) storeKey(fragmentKey);
      currentKey();
      updateLogout();
      onSignedIn = () => {
        signedIn = true;
        hideLogin();
        Promise.resolve().then(page.load).catch(reportError);
      };
      const parts = loginParts();
      parts.form.addEventListener("submit", (event) => {
        event.preventDefault();
        const key = parts.input.value.trim();
        if (!key) return;
        storeKey(key);
        onSignedIn();
      });
      const logout = document.getElementById("logout");
      if (logout) logout.addEventListener("click", (event) => {
        event.preventDefault();
        storeKey(null);
        showLogin("");
      });
      if (page.setup) page.setup();
      const embedded = embeddedToken();
      const refused = body.dataset.signInError || "";
      if (embedded && !currentKey()) useAgentToken(embedded);
      else if (devOpen || currentKey()) onSignedIn();
      else if (!refused && page.awaitsToken && page.awaitsToken()) {
        window.setTimeout(() => {
          const asked = !loginParts().section.hidden; // the page already showed why (the helpdesk failing)
          if (!signedIn && !agentToken && !asked) showLogin("The helpdesk did not say who you are: sign in with your key.");
        }, TOKEN_WAIT_MS);
      } else showLogin(refused);
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  window.Tactful = {
    ApiError, request, text, stream, el, fill, highlight, setStatus, reportError, debounce, date, dateTime, percent, bar, boot,
    role, devOpen, showLogin, useAgentToken,
    hasKey: () => Boolean(currentKey()),
    hasAgentToken: () => Boolean(agentToken),
  };
})();

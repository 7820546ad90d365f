/* The supervisor's review queue: filter flags, read the conversation with the flagged span marked, confirm or dismiss. */
(function () {
  "use strict";

  const T = window.Tactful;
  const { el, fill } = T;
  const $ = (id) => document.getElementById(id);
  const state = { selectedFlag: null, conversationId: null, queueSeq: 0 };

  function label(kind) {
    return String(kind || "").replace(/_/g, " ");
  }

  function filterQuery() {
    const form = new FormData($("filters"));
    const params = new URLSearchParams();
    for (const [name, value] of form.entries()) params.set(name, String(value));
    return params.toString();
  }

  function flagSummary(flag) {
    return [
      el("span", { class: "badge sev-" + flag.severity }, label(flag.kind) + " · " + flag.severity), " ",
      el("span", {}, flag.message),
      flag.excerpt ? el("div", { class: "small" }, "“" + flag.excerpt + "”") : null,
      el("div", { class: "small muted" }, [flag.conversation_id, flag.agent, flag.language, label(flag.contact_level),
        T.dateTime(flag.created_at)].filter(Boolean).join(" · ")),
    ];
  }

  async function loadQueue() {
    const seq = ++state.queueSeq;
    const data = await T.request("/v1/flags?" + filterQuery());
    if (seq !== state.queueSeq) return;
    const items = (data && data.items) || [];
    $("queue-count").textContent = "(" + items.length + ")";
    fill($("queue"), items.length ? items.map(queueItem) : el("li", { class: "muted small" }, "Nothing to review."));
  }

  function queueItem(flag) {
    const open = () => openConversation(flag).catch(T.reportError);
    return el("li", {
      class: "flag sev-" + flag.severity, tabIndex: 0, dataset: { flagId: flag.id },
      attrs: { "aria-selected": String(flag.id === state.selectedFlag) },
      on: { click: open, keydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } } },
    }, flagSummary(flag));
  }

  function markSelected() {
    for (const li of $("queue").querySelectorAll("li[data-flag-id]")) {
      li.setAttribute("aria-selected", String(li.dataset.flagId === state.selectedFlag));
    }
  }

  async function loadStats() {
    const stats = await T.request("/v1/flags/stats");
    const perDay = stats.per_day || {};
    const days = Object.keys(perDay).sort().reverse();
    const kinds = [...new Set(days.flatMap((d) => Object.keys(perDay[d])))].sort();
    $("stat-reviewed").textContent = (stats.reviewed || 0) + " reviewed";
    $("stat-dismissed").textContent = (stats.dismissed || 0) + " dismissed (" +
      (stats.dismissed_share === null || stats.dismissed_share === undefined ? "–" : T.percent(stats.dismissed_share)) + ")";
    const table = $("per-day");
    fill(table.tHead, el("tr", {}, el("th", {}, "Day"), kinds.map((k) => el("th", { class: "num" }, label(k)))));
    fill(table.tBodies[0], days.length ? days.map((d) => el("tr", {}, el("td", {}, d),
      kinds.map((k) => el("td", { class: "num" }, String(perDay[d][k] || 0)))))
      : el("tr", {}, el("td", { class: "muted" }, "No flags yet.")));
  }

  /** Per-message tone reports, when the latest assist carries them ({index, issues} items or an index → report map). */
  function messageTones(assist) {
    const raw = assist && (assist.message_tones || assist.agent_tones);
    const out = new Map();
    if (Array.isArray(raw)) for (const r of raw) out.set(Number(r.index), r.tone || r);
    else if (raw && typeof raw === "object") for (const [k, v] of Object.entries(raw)) out.set(Number(k), v);
    return out;
  }

  function messageSpans(index, flags, tone) {
    const spans = flags
      .filter((f) => f.message_index === index && Number.isInteger(f.start) && Number.isInteger(f.end))
      .map((f) => ({ start: f.start, end: f.end, title: label(f.kind) + ": " + f.message,
        className: f.id === state.selectedFlag ? "current" : "" }));
    for (const issue of (tone && tone.issues) || []) {
      spans.push({ start: issue.start, end: issue.end, title: issue.message + (issue.suggestion ? " → " + issue.suggestion : "") });
    }
    return spans;
  }

  function renderMessages(bundle) {
    const conversation = bundle.conversation || {};
    const flags = bundle.flags || [];
    const assists = bundle.assists || [];
    const latest = assists[assists.length - 1];
    const tones = messageTones(latest);
    const messages = conversation.messages || [];
    fill($("messages"), messages.map((m, i) => {
      const tone = m.role === "agent" ? tones.get(i) : null;
      return el("li", { class: m.role, dataset: { index: String(i) } },
        el("div", { class: "who" }, m.role + " · #" + (i + 1) + (m.at ? " · " + T.dateTime(m.at) : "")),
        el("div", { class: "message-text" }, T.highlight(m.text, messageSpans(i, flags, tone))),
        tone && tone.issues && tone.issues.length ? el("ul", { class: "items small muted" },
          tone.issues.map((x) => el("li", {}, x.message + (x.suggestion ? " → " + x.suggestion : "")))) : null);
    }));
    const draftTone = latest && latest.tone;
    $("last-tone").hidden = !draftTone;
    if (draftTone) {
      $("last-tone-score").textContent = T.percent(draftTone.score);
      fill($("last-tone-issues"), (draftTone.issues || []).length
        ? draftTone.issues.map((x) => el("li", {}, el("strong", {}, label(x.kind)), ": " + x.message +
          (x.suggestion ? " → " + x.suggestion : "")))
        : el("li", {}, "No issue."));
    }
  }

  function reviewControls(flag) {
    if (flag.status !== "open") {
      return el("div", { class: "small muted" }, flag.status + (flag.note ? ": " + flag.note : ""));
    }
    const note = el("input", { type: "text", placeholder: "Note (optional)", attrs: { "aria-label": "Review note" } });
    const decide = (decision) => async () => {
      try {
        await T.request("/v1/flags/" + encodeURIComponent(flag.id) + "/review",
          { method: "POST", json: { decision, note: note.value.trim() } });
        T.setStatus("Flag " + decision + ".");
        await Promise.all([loadQueue(), loadStats(), refreshConversation()]);
      } catch (err) {
        T.reportError(err);
      }
    };
    return el("div", { class: "row", style: "margin-top:.35rem" },
      el("div", { style: "flex:1 1 10rem" }, note),
      el("button", { type: "button", class: "primary", on: { click: decide("confirmed") } }, "Confirm"),
      el("button", { type: "button", class: "danger", on: { click: decide("dismissed") } }, "Dismiss"));
  }

  function renderFlags(bundle) {
    const flags = bundle.flags || [];
    fill($("conv-flags"), flags.length ? flags.map((f) => el("div", {
      class: "flag sev-" + f.severity, dataset: { flagId: f.id },
      attrs: f.id === state.selectedFlag ? { "aria-current": "true" } : {},
    }, flagSummary(f), reviewControls(f))) : el("p", { class: "muted small" }, "No flags."));
  }

  async function refreshConversation() {
    if (!state.conversationId) return;
    const bundle = await T.request("/v1/conversations/" + encodeURIComponent(state.conversationId));
    $("conv-empty").hidden = true;
    $("conv").hidden = false;
    $("conv-meta").textContent = [state.conversationId, bundle.language, label(bundle.contact_level),
      bundle.updated_at ? "updated " + T.dateTime(bundle.updated_at) : null].filter(Boolean).join(" · ");
    renderMessages(bundle);
    renderFlags(bundle);
  }

  async function openConversation(flag) {
    state.selectedFlag = flag.id;
    state.conversationId = flag.conversation_id;
    markSelected();
    await refreshConversation();
  }

  function setup() {
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      loadQueue().catch(T.reportError);
    });
    $("filters").addEventListener("change", () => loadQueue().catch(T.reportError));
  }

  async function load() {
    await Promise.all([loadQueue(), loadStats()]);
  }

  T.boot({ setup, load });
})();

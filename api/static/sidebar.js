/* The agent sidebar: conversation in, suggestions and a tone check out; embeddable as a Chatwoot dashboard app and,
 * with zendesk.js, as a Zendesk ticket-sidebar app (window.TactfulSidebar is what zendesk.js drives). */
(function () {
  "use strict";

  const T = window.Tactful;
  const { el, fill } = T;
  const AUTO_ASSIST_MS = 600;
  const FETCH_INFO = "chatwoot-dashboard-app:fetch-info";
  const FETCH_INFO_RETRIES = 3;
  const ROLE_LINE = /^\s*(customer|agent|bot)\s*:\s?(.*)$/i;
  const DIMENSIONS = [
    ["calm", "Calm"], ["non_sarcastic", "Not sarcastic"], ["personalised", "Personal"],
    ["professional", "Professional"], ["empathetic", "Empathetic"],
  ];
  const TREND = { rising: "↑ rising", falling: "↓ falling", steady: "→ steady" };
  const PARTS = ["empathy", "next_steps", "rewrite"];
  const LLM_FINDING = "Found by the language model, not by the rules: a second opinion, check it before acting on it.";

  const $ = (id) => document.getElementById(id);
  const state = {
    conversationId: "sidebar-" + Math.random().toString(36).slice(2, 10),
    channel: null,
    customer: {},
    demos: [],
    result: null,
    draftSent: "",
    seq: 0,
    controller: null,
    gotContext: false,
    insert: null, // a helpdesk's way to put a phrasing into its reply box (Zendesk: comment.appendText)
    rewriteTo: null, // and to replace the reply with the rewrite (Zendesk: comment.text)
  };

  /** Messages from the conversation box: `customer:` / `agent:` / `bot:` lines; other lines continue the previous one. */
  function parseConversation(text) {
    const messages = [];
    for (const line of String(text || "").split(/\r?\n/)) {
      const match = ROLE_LINE.exec(line);
      if (match) messages.push({ role: match[1].toLowerCase(), text: match[2] });
      else if (line.trim() && messages.length) messages[messages.length - 1].text += "\n" + line;
      else if (line.trim()) messages.push({ role: "customer", text: line });
    }
    return messages.filter((m) => m.text.trim()).map((m) => ({ role: m.role, text: m.text.trim() }));
  }

  function formatConversation(messages) {
    return messages.map((m) => m.role + ": " + m.text).join("\n");
  }

  function numberOrNull(value) {
    const n = Number.parseFloat(value);
    return Number.isFinite(n) && n >= 0 ? n : null;
  }

  function assistBody() {
    const customer = Object.assign({}, state.customer, { name: $("customer-name").value.trim() || null, vip: $("vip").checked });
    const kase = {};
    const value = numberOrNull($("purchase-value").value);
    if (value !== null) kase.purchase_value = value;
    if ($("complexity").value) kase.product_complexity = $("complexity").value;
    if ($("importance").value) kase.strategic_importance = $("importance").value;
    if ($("level-override").value) kase.contact_level = $("level-override").value;
    const conversation = { id: state.conversationId, customer, case: kase, messages: parseConversation($("conversation").value) };
    if (state.channel) conversation.channel = state.channel;
    if (state.agent) conversation.agent = { id: state.agent };
    return { conversation, draft: $("draft").value };
  }

  async function assist() {
    const body = assistBody();
    if (!body.conversation.messages.length) {
      T.setStatus("Add at least one message (e.g. “customer: …”) or pick a demo conversation.", true);
      return;
    }
    const seq = ++state.seq;
    if (state.controller) state.controller.abort();
    state.controller = new AbortController();
    $("assist-meta").textContent = "Assisting…";
    // The rules answer arrives at once; parts an LLM improves replace it as they come (POST /v1/assist/stream).
    let answered = false;
    const onEvent = (name, data) => {
      if (seq !== state.seq) return;
      if (name === "assist") {
        answered = true;
        state.result = data;
        state.draftSent = body.draft;
        T.setStatus("");
        render(data);
        for (const part of PARTS) markPart(part, (data.pending || []).includes(part) ? "pending" : "rules");
        $("tone-llm-pending").hidden = !(data.pending || []).includes("tone_llm");
      } else if (name === "part") {
        applyPart(data);
      } else if (name === "done") {
        finish(data);
      }
    };
    try {
      await T.stream("/v1/assist/stream", { method: "POST", json: body, signal: state.controller.signal, onEvent });
    } catch (err) {
      if (seq !== state.seq || (err && err.name === "AbortError")) return;
      if (!answered) $("assist-meta").textContent = "";
      for (const part of PARTS) if (partState(part) === "pending") markPart(part, "rules");
      $("tone-llm-pending").hidden = true;
      T.reportError(err);
    }
  }

  function partState(part) {
    return $(part + "-engine").dataset.state || "";
  }

  const PART_LABELS = {
    rules: ["", ""],
    pending: ["improving…", "A language model is writing a better version; the rules answer shows meanwhile."],
    llm: ["AI", "Written by the language model from this conversation and the knowledge base."],
    fallback: ["rules", "The language model's answer was late or did not pass the checks; this is the rules answer."],
  };

  function markPart(part, how) {
    const badge = $(part + "-engine");
    const [text, title] = PART_LABELS[how];
    badge.dataset.state = how;
    badge.textContent = text;
    badge.title = title;
    badge.hidden = !text;
  }

  function applyPart(data) {
    const result = state.result;
    if (result && data.part === "tone_llm") {
      // What the language model found that the rules missed: shown beside the rules' issues, marked "AI".
      result.tone_llm = data.items || [];
      $("tone-llm-pending").hidden = true;
      renderTone(result.tone, state.draftSent, result.tone_llm);
      return;
    }
    if (!result || !PARTS.includes(data.part)) return;
    const items = data.items || [];
    if (data.part === "empathy") {
      result.empathy = items;
      renderEmpathy(items);
    } else if (data.part === "next_steps") {
      result.next_steps = items;
      renderSteps(items, result.language);
      if (Array.isArray(data.articles)) {
        // The articles follow the steps: the LLM's topic, or none when it found no passage about the problem.
        result.articles = data.articles;
        renderArticles(data.articles, result);
      }
    } else if (data.part === "rewrite" && result.tone && items.length) {
      result.tone.rewrite = items[0].text;
      renderTone(result.tone, state.draftSent, result.tone_llm);
    }
    markPart(data.part, "llm");
  }

  function finish(done) {
    const result = state.result;
    for (const part of PARTS) if (partState(part) === "pending") markPart(part, "fallback");
    $("tone-llm-pending").hidden = true;
    if (!result) return;
    // The merged answer: keep it for feedback and "use rewrite"; the parts on screen are already these.
    done.flags = done.flags || result.flags;
    done.follow_ups = done.follow_ups || result.follow_ups;
    renderFollowUps(done.follow_ups || []);
    state.result = done;
    renderMeta(done);
  }

  const assistSoon = T.debounce(assist, AUTO_ASSIST_MS);

  function assistNow() {
    assistSoon.cancel();
    return assist();
  }

  function feedback(item, index, action, finalText) {
    const result = state.result;
    if (!result) return;
    const body = { suggestion_id: result.suggestion_id, item, index, action };
    if (finalText !== undefined) body.final_text = finalText;
    T.request("/v1/feedback", { method: "POST", json: body }).catch(T.reportError);
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        const timeout = new Promise((_, reject) => window.setTimeout(() => reject(new Error("timeout")), 1000));
        await Promise.race([navigator.clipboard.writeText(text), timeout]);
        return true;
      } catch (_) {
        /* denied inside some iframes: fall back below */
      }
    }
    const area = el("textarea", { value: text, readOnly: true, style: "position:fixed;top:-1000px;left:0;opacity:0" });
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (_) {
      ok = false;
    }
    area.remove();
    return ok;
  }

  function levelLabel(level) {
    return String(level || "").replace("_", " ");
  }

  function langBadge(language) {
    return el("span", { class: "badge lang", title: "written in " + language }, language);
  }

  function renderLevel(decision) {
    const badge = $("level-badge");
    badge.textContent = levelLabel(decision.level);
    badge.className = "badge " + decision.level;
    $("level-source").textContent = decision.source === "override" ? "(set by you)" : "(inferred)";
    fill($("level-reasons"), (decision.reasons || []).map((r) => el("li", {}, r)));
  }

  function renderCustomer(customer) {
    const frustration = Number(customer.frustration) || 0;
    $("frustration-value").textContent = T.percent(frustration);
    fill($("frustration-bar"), T.bar(frustration, { invert: true, label: "frustration" }));
    const trend = $("trend");
    trend.textContent = TREND[customer.trend] || customer.trend || "";
    trend.className = "badge" + (customer.trend === "rising" ? " sev-high" : "");
    fill($("signals"), (customer.signals || []).map((s) => el("span", { class: "chip" }, s)));
  }

  function renderFlags(flags) {
    $("flags-panel").hidden = !flags.length;
    fill($("flags"), flags.map((f) => el("div", { class: "flag sev-" + f.severity },
      el("span", { class: "badge sev-" + f.severity }, f.kind.replace(/_/g, " ") + " · " + f.severity), " ",
      el("span", {}, f.message),
      f.excerpt ? el("div", { class: "small muted" }, "“" + f.excerpt + "”") : null)));
  }

  const ACTIONS = {
    keep: "keep",
    escalate: "escalate",
    offer_human: "offer a person",
    offer_self_service: "send the article",
  };

  function renderEscalation(escalation) {
    $("escalation-panel").hidden = !escalation;
    if (!escalation) return;
    $("escalation-badge").textContent = escalation.tier + (escalation.needed !== escalation.tier ? " → needs " + escalation.needed : "");
    const action = $("escalation-action");
    action.textContent = ACTIONS[escalation.action] || escalation.action;
    action.className = "badge" + (escalation.action === "keep" ? "" : " sev-medium");
    action.dataset.action = escalation.action;
    fill($("escalation-reasons"), (escalation.reasons || []).map((r) => el("li", {}, r)));
  }

  function localTime(iso) {
    const when = new Date(iso);
    return Number.isNaN(when.getTime()) ? String(iso) : when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  const FOLLOW_UP_KINDS = { promise: "promise", transfer: "transfer check", after_resolution: "after resolution" };

  function renderFollowUps(items) {
    const shown = items.filter((f) => f.status !== "done");
    $("follow-ups-panel").hidden = !shown.length;
    fill($("follow-ups"), shown.map((f) => {
      const copy = el("button", { type: "button", class: "small", text: "Copy" });
      copy.addEventListener("click", async () => {
        copy.textContent = (await copyText(f.text)) ? "Copied ✓" : "Select & copy";
      });
      const done = el("button", { type: "button", class: "small", text: "Done" });
      done.addEventListener("click", async () => {
        try {
          await T.request("/v1/follow-ups/" + encodeURIComponent(f.id) + "/done",
            { method: "POST", json: { agent: state.agent || "sidebar" } });
          f.status = "done";
          renderFollowUps(items);
        } catch (err) {
          T.reportError(err);
        }
      });
      return el("li", { class: "follow-up", attrs: { "data-status": f.status } },
        el("div", { class: "small" },
          el("span", { class: "badge" + (f.status === "missed" ? " sev-high" : "") }, FOLLOW_UP_KINDS[f.kind] || f.kind),
          " ", el("span", { class: "muted" }, (f.status === "missed" ? "missed · was due " : "due ") + localTime(f.due_at))),
        f.created_from && f.kind !== "after_resolution" ? el("div", { class: "small muted" }, "“" + f.created_from + "”") : null,
        el("p", {}, f.text), copy, " ", done);
    }));
  }

  /** A lasting line about the helpdesk (its API down or refusing): unlike the status line, which the next assist
   * clears, it stays until what it is `about` ("context", "note") works again or another conversation opens. */
  function helpdeskNotice(message, about) {
    const box = $("helpdesk-notice");
    box.textContent = message || "";
    box.hidden = !message;
    box.dataset.about = message ? about : "";
  }

  function clearNotice(about) {
    if ($("helpdesk-notice").dataset.about === about) helpdeskNotice("");
  }

  /** No conversation to show (the helpdesk refused it): the previous one's suggestions go too, and an assist
   * still on its way is dropped, so nothing on screen belongs to another conversation. */
  function clearResults() {
    state.seq += 1;
    if (state.controller) state.controller.abort();
    state.result = null;
    $("results").hidden = true;
    $("assist-meta").textContent = "";
    $("conversation").value = "";
  }

  /** Whether the conversation lives in a helpdesk Tactful can write a private note to. */
  function inHelpdesk() {
    return /^(chatwoot|zammad)-/.test(state.conversationId || "");
  }

  /** "Note": the suggestion posted as a private note in the helpdesk's conversation (Chatwoot has no API to write
   * the reply box; the note is where the agent takes it from). Hidden outside a helpdesk conversation. */
  function noteButton(text, label, onDone) {
    if (!inHelpdesk()) return null;
    const button = el("button", { type: "button", class: "small note", text: "Note", attrs: { "aria-label": label } });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await T.request("/v1/conversations/" + encodeURIComponent(state.conversationId) + "/notes",
          { method: "POST", json: { text } });
        button.textContent = "Noted ✓";
        noteFailed(button, "");
        if (onDone) onDone();
      } catch (err) {
        button.disabled = false;
        if (err.status === 0 || err.status >= 500) {
          // The helpdesk (or Tactful) did not take it: say which, beside the button the agent just pressed.
          button.textContent = "Retry note";
          noteFailed(button, sentence(err.message) + (err.status === 0 ? " Nothing was posted."
            : " Copy the suggestion into the reply instead; the suggestions keep working."));
        } else T.reportError(err);
      }
    });
    return button;
  }

  /** The reason a note failed, under the suggestion whose "Note" was pressed (empty: removed). */
  function noteFailed(button, message) {
    const item = button.closest("li");
    const old = item && item.querySelector(".note-error");
    if (old) old.remove();
    if (item && message) item.append(el("p", { class: "note-error small error", attrs: { role: "alert" } }, message));
  }

  /** "Insert": the phrasing goes into the helpdesk's reply box (where the helpdesk lets the sidebar write it). */
  function insertButton(text, index) {
    if (!state.insert) return null;
    const button = el("button", { type: "button", class: "small insert", text: "Insert",
      attrs: { "aria-label": "Insert phrasing " + (index + 1) + " into the reply" } });
    button.addEventListener("click", async () => {
      try {
        await state.insert(text);
        button.textContent = "Inserted ✓";
        feedback("empathy", index, "accepted", text);
      } catch (err) {
        T.setStatus("The helpdesk did not take the text: " + ((err && err.message) || err), true);
      }
    });
    return button;
  }

  function renderEmpathy(items) {
    fill($("empathy"), items.length ? items.map((item, index) => {
      const button = el("button", { type: "button", class: "small", text: "Copy", attrs: { "aria-label": "Copy phrasing " + (index + 1) } });
      button.addEventListener("click", async () => {
        const ok = await copyText(item.text);
        button.textContent = ok ? "Copied ✓" : "Select & copy";
        window.setTimeout(() => { button.textContent = "Copy"; }, 1500);
        feedback("empathy", index, "accepted", item.text);
      });
      const note = noteButton(item.text, "Post phrasing " + (index + 1) + " as a private note",
        () => feedback("empathy", index, "accepted", item.text));
      return el("li", { class: "suggestion" }, el("p", {}, item.text), insertButton(item.text, index), button, note);
    }) : el("li", { class: "muted small" }, "No phrasing needed here."));
  }

  // The cited words inside the section they come from (marked), so a single step or question reads in context.
  function quotedInContext(citation) {
    const context = citation.context || "";
    const at = citation.quote ? context.indexOf(citation.quote) : -1;
    if (at < 0) return el("span", {}, citation.quote);
    return el("span", { class: "context" }, context.slice(0, at),
      el("mark", {}, citation.quote), context.slice(at + citation.quote.length));
  }

  function citationChip(citation, language) {
    const label = citation.section ? citation.title + " · " + citation.section : citation.title;
    const quote = el("blockquote", { class: "quote", hidden: true },
      quotedInContext(citation), el("div", { class: "small muted" }, citation.source || citation.document_id));
    const chip = el("button", { type: "button", class: "chip", attrs: { "aria-expanded": "false" } },
      el("span", {}, label),
      citation.language && citation.language !== language ? langBadge(citation.language) : null,
      citation.indexed_at ? el("span", { class: "muted" }, T.date(citation.indexed_at)) : null);
    chip.addEventListener("click", () => {
      quote.hidden = !quote.hidden;
      chip.setAttribute("aria-expanded", String(!quote.hidden));
    });
    return { chip, quote };
  }

  function renderSteps(steps, language) {
    fill($("steps"), steps.length ? steps.map((step) => {
      const parts = (step.citations || []).map((c) => citationChip(c, language));
      return el("li", { class: "step" },
        el("p", { style: "margin:0" }, step.text),
        el("div", { class: "chips" }, parts.map((p) => p.chip)),
        parts.map((p) => p.quote));
    }) : el("li", { class: "muted small" }, "No grounded step found in the knowledge base."));
  }

  function renderDone(done) {
    $("done-box").hidden = !done.length;
    fill($("done-steps"), done.map((d) => el("li", { class: "done-step" },
      el("span", { class: "done-mark", attrs: { "aria-hidden": "true" } }, "✓ "),
      el("span", {}, d.text), " ",
      el("span", { class: "muted small" }, "(" + d.reason + ")"))));
  }

  function renderArticles(articles, result) {
    const noTouch = result.contact_level.level === "no_touch";
    const panel = $("articles-panel");
    panel.hidden = !articles.length && !noTouch;
    $("articles-hint").hidden = !noTouch;
    // A no-touch case is about the article: show it first.
    const results = $("results");
    const anchor = noTouch ? $("empathy-title").parentElement : $("tone-panel");
    if (panel.nextElementSibling !== anchor) results.insertBefore(panel, anchor);
    fill($("articles"), articles.length ? articles.map((a) => el("li", { class: a.sendable === false ? "not-sendable" : "" },
      el("span", {}, a.title), " ",
      a.language && a.language !== result.language ? langBadge(a.language) : null, " ",
      el("span", { class: "muted small" }, T.percent(a.score)),
      a.note ? el("div", { class: "small muted article-note" }, a.note) : null)) : el("li", { class: "muted small" }, "No article found."));
  }

  /** The rules' tone report of the draft, and the language model's findings (``llm``: what the rules missed). */
  function renderTone(tone, draft, llm) {
    $("tone-empty").hidden = Boolean(tone);
    $("tone-body").hidden = !tone;
    if (!tone) return;
    $("tone-score").textContent = T.percent(tone.score);
    const dims = tone.dimensions || {};
    fill($("tone-dims"), DIMENSIONS.map(([key, label]) => [
      el("span", {}, label), T.bar(dims[key], { label }), el("span", { class: "muted" }, T.percent(dims[key])),
    ]));
    const issues = tone.issues || [];
    const found = llm || [];
    const marks = issues.map((i) => ({ start: i.start, end: i.end, title: i.message, className: "issue-" + i.kind }))
      .concat(found.map((f) => ({ start: f.start, end: f.end, title: "AI: " + f.message, className: "issue-llm issue-" + f.kind })));
    fill($("tone-draft"), T.highlight(draft, marks));
    fill($("tone-issues"), issues.map((i) => el("li", {},
      el("strong", {}, i.kind.replace(/_/g, " ")), ": ", i.message,
      i.suggestion ? el("div", { class: "muted" }, "→ " + i.suggestion) : null)));
    fill($("tone-llm-issues"), found.map((f) => el("li", { class: "llm-issue" },
      el("span", { class: "badge engine", title: LLM_FINDING }, "AI"), " ",
      el("strong", {}, f.kind.replace(/_/g, " ")), ": “" + f.quote + "” ", f.message,
      f.suggestion ? el("div", { class: "muted" }, "→ " + f.suggestion) : null)));
    $("rewrite-box").hidden = !tone.rewrite;
    $("rewrite").textContent = tone.rewrite || "";
  }

  function renderMeta(result) {
    const total = result.timings_ms && result.timings_ms.total;
    const llm = result.timings_ms && result.timings_ms.llm;
    $("assist-meta").textContent = [result.language && result.language.toUpperCase(), result.engine,
      Number.isFinite(total) ? Math.round(total) + " ms" : null,
      Number.isFinite(llm) ? "model " + (llm / 1000).toFixed(1) + " s" : null,
      result.degraded ? "partly rules" : null].filter(Boolean).join(" · ");
  }

  // While the knowledge base is being indexed (a new install's first minute), say so, and assist again when
  // it is ready: until then steps and articles may miss what is not indexed yet.
  function renderKnowledge(knowledge) {
    const box = $("kb-indexing");
    const indexing = knowledge && knowledge.state === "indexing";
    const unavailable = knowledge && knowledge.state === "unavailable";
    box.hidden = !indexing && !unavailable;
    clearTimeout(state.kbTimer);
    if (unavailable) {  // the knowledge server is down: passages come from this server's last copy
      box.textContent = "The knowledge base cannot be reached right now: steps and articles come from the last " +
        "copy this server holds and may be out of date. The tone check is unaffected.";
      return;
    }
    if (!indexing) return;
    const progress = knowledge.total ? ` (${knowledge.done} of ${knowledge.total} documents)` : "";
    box.textContent = `The knowledge base is being indexed${progress}: steps and articles may be missing. ` +
      "Suggestions will update when it is ready.";
    state.kbTimer = setTimeout(assistNow, 2000);
  }

  function render(result) {
    renderKnowledge(result.knowledge);
    $("results").hidden = false;
    $("results").dataset.conversationId = state.conversationId;
    renderMeta(result);
    renderLevel(result.contact_level);
    renderCustomer(result.customer || {});
    renderFlags(result.flags || []);
    renderEscalation(result.escalation);
    renderFollowUps(result.follow_ups || []);
    renderEmpathy(result.empathy || []);
    renderSteps(result.next_steps || [], result.language);
    renderDone(result.done_steps || []);
    renderArticles(result.articles || [], result);
    renderTone(result.tone, state.draftSent, result.tone_llm);
  }

  function useRewrite() {
    const rewrite = state.result && state.result.tone && state.result.tone.rewrite;
    if (!rewrite) return;
    $("draft").value = rewrite;
    feedback("rewrite", 0, "accepted", rewrite);
    if (state.rewriteTo) Promise.resolve(state.rewriteTo(rewrite)).catch(T.reportError);
    assistNow();
  }

  /** A helpdesk's conversation, as its adapter (zendesk.js) read it: shown, then assisted. */
  function showConversation(context) {
    state.conversationId = context.id;
    state.channel = context.channel || null;
    const customer = context.customer || {};
    state.customer = customer.id !== undefined && customer.id !== null ? { id: String(customer.id) } : {};
    state.agent = context.agent || state.agent;
    $("demo-picker").value = "";
    $("customer-name").value = customer.name || "";
    $("conversation").value = formatConversation(context.messages || []);
    if (parseConversation($("conversation").value).length) assistNow();
  }

  /** The reply being written in the helpdesk: tone-checked as the agent types. */
  function setDraft(text) {
    if ($("draft").value === text) return;
    $("draft").value = text;
    assistSoon();
  }

  function applyDemo(item) {
    state.conversationId = item.id;
    state.channel = item.channel || null;
    state.customer = Object.assign({}, item.customer || {});
    const kase = item.case || {};
    $("customer-name").value = state.customer.name || "";
    $("vip").checked = Boolean(state.customer.vip);
    $("purchase-value").value = kase.purchase_value ?? "";
    $("complexity").value = kase.product_complexity || "";
    $("importance").value = kase.strategic_importance || "";
    $("level-override").value = kase.contact_level || "";
    $("conversation").value = formatConversation(item.messages || []);
    $("draft").value = item.draft || "";
    assistNow();
  }

  async function loadDemos() {
    const data = await T.request("/v1/demo/conversations");
    state.demos = (data && data.items) || [];
    const picker = $("demo-picker");
    fill(picker, el("option", { value: "" }, state.demos.length ? "— pick one —" : "(no demo conversations)"),
      state.demos.map((d) => el("option", { value: d.id }, d.title || d.id)));
  }

  // Chatwoot dashboard app: the host posts a JSON string {event: "appContext", data}; accept configured origins only.
  function allowedOrigins() {
    return (document.body.dataset.allowedOrigins || "").split(/[\s,]+/).filter(Boolean);
  }

  function originMatches(pattern, origin) {
    if (pattern === origin) return true;
    const wild = /^(https?):\/\/\*\.(.+)$/.exec(pattern);
    if (!wild) return false;
    try {
      const url = new URL(origin);
      return url.protocol === wild[1] + ":" && url.hostname.endsWith("." + wild[2]) && !url.port;
    } catch (_) {
      return false;
    }
  }

  function originAllowed(origin) {
    return origin === window.location.origin || allowedOrigins().some((p) => originMatches(p, origin));
  }

  function chatwootMessages(conversation) {
    const roles = { 0: "customer", 1: "agent", incoming: "customer", outgoing: "agent" };
    return (conversation.messages || [])
      .filter((m) => m && !m.private && roles[m.message_type] && typeof m.content === "string" && m.content.trim())
      .map((m) => ({ role: roles[m.message_type], text: m.content.trim() }));
  }

  /** An API message as a sentence for the agent: the helpdesk URL it names (for admins) left out. */
  function sentence(text) {
    const trimmed = String(text || "").replace(/\s*\((GET|POST|PUT) [^)]*\)/g, "").trim();
    return /[.!?]$/.test(trimmed) ? trimmed : trimmed + ".";
  }

  function applyAppContext(data) {
    helpdeskNotice("");
    const conversation = data.conversation || {};
    const sender = (conversation.meta && conversation.meta.sender) || {};
    const contact = data.contact || {};
    if (data.theme === "dark" || data.theme === "light") document.documentElement.dataset.theme = data.theme;
    const installation = installationId();
    if (conversation.id !== undefined && conversation.id !== null) {
      state.conversationId = "chatwoot-" + (installation ? installation + "-" : "") + conversation.id;
    }
    state.channel = conversation.channel || state.channel;
    state.customer = contact.id !== undefined ? { id: String(contact.id) } : {};
    const agent = data.currentAgent || {};
    state.agent = agent.id !== undefined && agent.id !== null ? String(agent.id) : state.agent;
    $("demo-picker").value = "";
    $("customer-name").value = contact.name || sender.name || "";
    const attrs = contact.custom_attributes || sender.custom_attributes || {};
    if (typeof attrs.vip === "boolean") $("vip").checked = attrs.vip;
    $("conversation").value = formatConversation(chatwootMessages(conversation));
    signInAsAgent(conversation, agent)
      .then((signed) => (signed ? verifyWithChatwoot(conversation) : false))
      .then((shown) => {
        if (shown && parseConversation($("conversation").value).length) assistNow();
      });
  }

  /** Without a key, an agent of a registered installation signs in as themselves: Tactful checks with Chatwoot
   * that this agent and conversation exist and issues a short-lived token for the conversation (asked again for
   * each conversation the agent opens). Whether the sidebar may go on. */
  async function signInAsAgent(conversation, agent) {
    const installation = installationId();
    if (!installation || T.hasKey() || T.devOpen) return true;
    const body = { installation_id: installation, account_id: stringOrNull(conversation.account_id),
      conversation_id: stringOrNull(conversation.id), agent_id: stringOrNull(agent.id) };
    if (!body.account_id || !body.conversation_id || !body.agent_id) {
      T.showLogin("Chatwoot did not say which agent and conversation this is: sign in with your key.");
      return false;
    }
    const renew = () => signInAsAgent(conversation, agent);
    try {
      T.useAgentToken(await T.request("/v1/helpdesk/token", { method: "POST", json: body }), renew);
      return true;
    } catch (err) {
      clearResults();
      if (err.status === 403) T.setStatus("Chatwoot does not confirm you on this conversation: nothing is shown (" + err.message + ").", true);
      else if (err.status === 0 || err.status >= 500) {
        // Nobody vouched for the agent: the key sign-in, saying why (not "the helpdesk did not say who you are").
        T.showLogin(sentence(err.message) + " Sign in with your key, or open the conversation again when " +
          (err.status === 0 ? "Tactful" : "Chatwoot") + " answers.");
      } else T.reportError(err);
      return false;
    }
  }

  function stringOrNull(value) {
    return value === undefined || value === null || value === "" ? null : String(value);
  }

  /** Whether an agent token is on its way from the helpdesk (a Chatwoot dashboard app of a registered
   * installation opened without a key): the key sign-in waits for it a few seconds. */
  function awaitsToken() {
    const helpdesk = new URLSearchParams(window.location.search).get("helpdesk");
    return Boolean(installationId()) && window.parent !== window && helpdesk !== "zendesk";
  }

  /** The installation this sidebar serves: `?installation=<id>` in the dashboard app's URL (none: the
   * environment's Chatwoot). */
  function installationId() {
    return new URLSearchParams(window.location.search).get("installation") || null;
  }

  /** Chatwoot's postMessage is unsigned: the conversation is read again through Chatwoot's API with the
   * installation's token. Refused (403): nothing is shown. No API configured (404): the posted messages stay.
   * Chatwoot down: the posted messages stay, and the sidebar says so. Whether to assist. */
  async function verifyWithChatwoot(conversation) {
    const account = conversation.account_id;
    if (conversation.id === undefined || conversation.id === null || account === undefined || account === null) return true;
    const body = { kind: "chatwoot", installation_id: installationId(), account_id: String(account),
      conversation_id: String(conversation.id) };
    try {
      const seen = await T.request("/v1/helpdesk/context", { method: "POST", json: body });
      state.conversationId = seen.conversation_id;
      $("conversation").value = formatConversation(seen.messages);
      clearNotice("context");
      return true;
    } catch (err) {
      if (err.status === 403) {
        clearResults();
        state.conversationId = null;
        T.setStatus("This conversation is not visible to Tactful's Chatwoot token: nothing is shown.", true);
        return false;
      }
      if (err.status === 0) {
        helpdeskNotice(sentence(err.message) + " Suggestions need Tactful: they come back when it answers.", "context");
      } else if (err.status !== 404) {
        helpdeskNotice(sentence(err.message) + " The messages are shown as the Chatwoot page sent them; the " +
          "suggestions below are made from those.", "context");
      }
      return true;
    }
  }

  function onMessage(event) {
    if (!originAllowed(event.origin) || typeof event.data !== "string") return;
    let payload;
    try {
      payload = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    if (!payload || payload.event !== "appContext" || !payload.data || typeof payload.data !== "object") return;
    state.gotContext = true;
    applyAppContext(payload.data);
  }

  function askHostForContext() {
    if (window.parent === window) return;
    let sent = 0;
    const ask = () => {
      if (state.gotContext || sent > FETCH_INFO_RETRIES) return;
      sent += 1;
      window.parent.postMessage(FETCH_INFO, "*");
      window.setTimeout(ask, 1000);
    };
    ask();
  }

  function setup() {
    // Inside a helpdesk's frame the other pages' links only take room from the suggestions.
    document.body.classList.toggle("embedded", window.parent !== window);
    window.addEventListener("message", onMessage);
    $("assist").addEventListener("click", assistNow);
    $("use-rewrite").addEventListener("click", useRewrite);
    $("demo-picker").addEventListener("change", (event) => {
      const item = state.demos.find((d) => d.id === event.target.value);
      if (item) applyDemo(item);
    });
    for (const id of ["conversation", "draft", "customer-name", "purchase-value"]) $(id).addEventListener("input", assistSoon);
    for (const id of ["vip", "complexity", "importance", "level-override"]) $(id).addEventListener("change", assistSoon);
    askHostForContext();
  }

  async function load() {
    await loadDemos();
    if (parseConversation($("conversation").value).length) await assistNow();
  }

  window.TactfulSidebar = {
    parseConversation, formatConversation, originAllowed, applyAppContext, showConversation, setDraft,
    notice: helpdeskNotice,
    onInsert: (fn) => { state.insert = fn; },
    onRewrite: (fn) => { state.rewriteTo = fn; },
  };
  T.boot({ setup, load, awaitsToken });
})();

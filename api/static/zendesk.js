/* The sidebar inside Zendesk (a ZAF v2 ticket-sidebar app, integrations/zendesk): the ticket's conversation in,
 * "Insert" into the reply box, and the pre-send tone gate on ticket.save. Loaded with ?helpdesk=zendesk only,
 * after Zendesk's SDK and sidebar.js.
 *
 * The gate fails open: when Tactful does not answer within GATE_TIMEOUT_MS (Zendesk gives up on a save handler
 * after 10 s), the reply goes out unchecked and an "unreachable" event is queued in this frame, reported to
 * /v1/tone-gate/events as soon as Tactful answers again (each event has an id: reported twice, stored once).
 */
(function () {
  "use strict";

  const T = window.Tactful;
  const S = window.TactfulSidebar;
  const { el, fill } = T;
  const GATE_TIMEOUT_MS = 4000;
  const FLUSH_EVERY_MS = 30000;
  const QUEUE_KEY = "tactful.zendesk.gate-events";
  const ROLES = { "end-user": "customer", end_user: "customer", agent: "agent", admin: "agent" };
  const CHANNELS = [["mail", "email"], ["voice", "phone"], ["phone", "phone"], ["sms", "sms"], ["text", "sms"],
    ["twitter", "social"], ["facebook", "social"], ["instagram", "social"]];
  const installation = new URLSearchParams(window.location.search).get("installation") || "";
  const $ = (id) => document.getElementById(id);
  const ticket = { id: null, agent: null, customerName: "" };
  let override = null; // the held reply the agent chose to send as written: {text, kinds, excerpt}
  let memoryQueue = [];
  let flushing = false;

  function conversationId() {
    return "zendesk-" + (installation ? installation + "-" : "") + ticket.id;
  }

  /** Text from a comment or message that may be HTML (rich-text replies, e-mails). */
  function plain(content) {
    const value = String(content || "");
    if (!/<[a-z][\s\S]*>/i.test(value)) return value.trim();
    const marked = value.replace(/<br\s*\/?>|<\/(p|div|li)>/gi, (tag) => tag + "\n");
    const doc = new DOMParser().parseFromString(marked, "text/html"); // inert: nothing in it runs
    return (doc.body.textContent || "").replace(/\n{3,}/g, "\n\n").trim();
  }

  function channelOf(channel) {
    const name = String((channel && channel.name) || channel || "").toLowerCase();
    const found = CHANNELS.find(([word]) => name.includes(word));
    return found ? found[1] : "chat";
  }

  /** ticket.conversation's items as messages: the requester's as the customer's, agents' and admins' as the
   * agent's; system and bot items are left out. */
  function messagesOf(items) {
    return (items || []).map((item) => {
      const role = ROLES[String((item.author && item.author.role) || "").toLowerCase()];
      const text = plain(item.message && item.message.content);
      return role && text ? { role, text } : null;
    }).filter(Boolean);
  }

  /** Zendesk did not give the ticket (its data API failing, or an error for a path): say so where the agent looks,
   * and what still works. ZAF answers a failed path in `errors` rather than rejecting; both are handled. */
  function unreadable(err) {
    const why = (err && err.message) || String(err);
    S.notice("Zendesk did not give this ticket's conversation (" + why + "): no suggestions until it does. " +
      "Reopen the ticket, or paste the messages under Conversation. The tone gate still checks your replies.",
      "context");
  }

  async function readTicket(client) {
    const data = await client.get(["ticket.id", "ticket.conversation", "ticket.requester", "currentUser"]);
    const errors = (data && data.errors) || {};
    const requester = data["ticket.requester"] || {};
    const user = data.currentUser || {};
    if (data["ticket.id"] != null) ticket.id = data["ticket.id"]; // the gate needs the ticket, not its messages
    ticket.agent = user.id !== undefined && user.id !== null ? String(user.id) : ticket.agent;
    ticket.customerName = requester.name || ticket.customerName;
    const failed = ["ticket.id", "ticket.conversation"].filter((path) => errors[path] || data[path] == null);
    if (failed.length) {
      const first = errors[failed[0]];
      throw new Error(failed.join(", ") + ": " + ((first && first.message) || "missing"));
    }
    S.notice("", "context");
    const items = data["ticket.conversation"] || [];
    S.showConversation({
      id: conversationId(), channel: channelOf(items.length ? items[items.length - 1].channel : null),
      customer: { id: requester.id, name: requester.name || "" }, agent: ticket.agent, messages: messagesOf(items),
    });
  }

  // --- what happened at the gate, reported when Tactful answers --------------------------------------------------

  function readQueue() {
    try {
      return JSON.parse(window.localStorage.getItem(QUEUE_KEY) || "[]");
    } catch (_) {
      return memoryQueue; // storage blocked in this frame: kept for the page's life
    }
  }

  function writeQueue(items) {
    memoryQueue = items;
    try {
      window.localStorage.setItem(QUEUE_KEY, JSON.stringify(items));
    } catch (_) {
      /* blocked: the in-memory copy above */
    }
  }

  function eventId() {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Record an event: sent now when Tactful answers, otherwise queued for the next flush. */
  function report(event) {
    writeQueue([...readQueue(), Object.assign({ id: eventId(), occurred_at: new Date().toISOString(),
      conversation_id: conversationId(), installation_id: installation || null, agent: ticket.agent }, event)]);
    return flush();
  }

  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      for (const event of readQueue()) {
        try {
          await T.request("/v1/tone-gate/events", { method: "POST", json: event });
        } catch (err) {
          // Tactful down, a 5xx, no key, or too many requests: keep it for later. Another 4xx will never pass.
          if (err.status === 0 || err.status >= 500 || err.status === 429 || err.isAuth) break;
        }
        writeQueue(readQueue().filter((queued) => queued.id !== event.id));
      }
    } finally {
      flushing = false;
    }
  }

  // --- the gate's panel -------------------------------------------------------------------------------------------

  function spanOf(text, issue) {
    return Array.from(text).slice(issue.start, issue.end).join("");
  }

  function showGate(message, { issues = [], text = "", rewrite = null, canOverride = false, error = false } = {}) {
    $("gate-panel").hidden = false;
    const status = $("gate-status");
    status.textContent = message;
    status.classList.toggle("error", error);
    fill($("gate-issues"), issues.map((issue) => el("li", {},
      el("mark", {}, spanOf(text, issue)), " ", el("span", { class: "muted" }, issue.message))));
    $("gate-rewrite-box").hidden = !rewrite;
    $("gate-rewrite").textContent = rewrite || "";
    $("gate-send-anyway").hidden = !canOverride;
  }

  function held(decision, text) {
    const kinds = decision.issues.map((i) => i.kind);
    const excerpt = decision.issues.map((i) => spanOf(text, i)).join(" … ");
    showGate(decision.issues.length ? "Held back before sending:" : decision.message,
      { issues: decision.issues, text, rewrite: decision.rewrite, canOverride: decision.allow_override });
    $("gate-panel").scrollIntoView({ block: "nearest" }); // the agent may have scrolled down to the suggestions
    $("gate-use-rewrite").onclick = () => useRewrite(decision.rewrite);
    $("gate-send-anyway").onclick = () => {
      override = { text, kinds, excerpt };
      showGate("Submit again in Zendesk to send it as written: Tactful records that for your supervisor.");
    };
  }

  let zaf = null;

  async function useRewrite(rewrite) {
    try {
      await zaf.set("comment.text", rewrite);
      S.setDraft(rewrite);
      showGate("The rewrite is in the reply box: read it, then submit again.");
    } catch (err) {
      showGate("Zendesk did not take the rewrite: " + ((err && err.message) || err), { error: true });
    }
  }

  // --- ticket.save --------------------------------------------------------------------------------------------------

  /** The tone check against the installation's gate, given up after GATE_TIMEOUT_MS. */
  async function check(text, isPublic) {
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), GATE_TIMEOUT_MS);
    try {
      const gate = { installation_id: installation, conversation_id: conversationId(), agent: ticket.agent,
        public: isPublic };
      return await T.request("/v1/tone", { method: "POST", signal: controller.signal,
        json: { text, customer_name: ticket.customerName || null, gate } });
    } finally {
      window.clearTimeout(timer);
    }
  }

  /** Whether the reply may be sent: {ok: true} or {ok: false, message} (the message Zendesk shows). */
  async function gateSave(client) {
    const comment = (await client.get("ticket.comment"))["ticket.comment"] || {};
    const text = plain(comment.text);
    if (!text || !installation) return { ok: true };
    if (override && override.text === text) {
      const sent = override;
      override = null;
      showGate("Sent as written; recorded for your supervisor.");
      report({ kind: "overridden", kinds: sent.kinds, excerpt: sent.excerpt });
      return { ok: true };
    }
    let answer;
    try {
      answer = await check(text, comment.type !== "internalNote");
    } catch (err) {
      const why = err && err.name === "AbortError" ? "did not answer within " + GATE_TIMEOUT_MS / 1000 + " s"
        : (err && err.message) || String(err);
      showGate("Tactful " + why + ": this reply went out unchecked (recorded for your supervisor).", { error: true });
      report({ kind: "unreachable" });
      return { ok: true };
    }
    flush();
    const decision = answer && answer.gate;
    if (!decision || !decision.blocked) {
      $("gate-panel").hidden = true;
      return { ok: true };
    }
    held(decision, text);
    return { ok: false, message: decision.message };
  }

  function start() {
    if (!window.ZAFClient) {
      T.setStatus("Zendesk's app SDK did not load: suggestions work, the tone gate is off.", true);
      return;
    }
    zaf = window.ZAFClient.init();
    if (!zaf) {
      T.setStatus("This page is not open inside Zendesk: the tone gate is off.", true);
      return;
    }
    const client = zaf;
    S.onInsert((text) => client.invoke("comment.appendText", text));
    S.onRewrite((text) => client.set("comment.text", text));
    // Resolving lets Zendesk save; rejecting with a message holds the reply back and shows the message. Anything
    // unexpected here lets the reply through: the gate helps the agent, it must not stop the team's work.
    client.on("ticket.save", () => gateSave(client)
      .catch((err) => {
        console.error(err);
        return { ok: true };
      })
      .then((result) => (result.ok ? true : Promise.reject(result.message))));
    client.on("ticket.conversation.changed", () => readTicket(client).catch(unreadable));
    client.on("comment.text.changed", () => client.get("ticket.comment")
      .then((data) => S.setDraft(plain((data["ticket.comment"] || {}).text)))
      .catch(T.reportError));
    client.invoke("resize", { width: "100%", height: "640px" });
    if (!installation) T.setStatus("The app has no installation id (its settings): the tone gate is off.", true);
    readTicket(client).catch(unreadable);
    flush();
    window.setInterval(flush, FLUSH_EVERY_MS);
  }

  start();
})();

/* The knowledge page: documents, uploads, re-indexing with live progress, recent jobs and the gaps report. */
(function () {
  "use strict";

  const T = window.Tactful;
  const { el, fill } = T;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 500;
  const PAGE_SIZE = 50;
  const DONE = new Set(["succeeded", "failed"]);
  const state = { offset: 0, total: 0, shownJob: null };

  function emptyRow(columns, text) {
    return el("tr", {}, el("td", { class: "muted", colSpan: columns }, text));
  }

  function documentQuery() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.offset) });
    const language = $("d-language").value;
    const kind = $("d-kind").value.trim();
    if (language) params.set("language", language);
    if (kind) params.set("kind", kind);
    return params.toString();
  }

  function deleteButton(doc) {
    let armed = false;
    let timer = null;
    const button = el("button", { type: "button", class: "small danger", attrs: { "aria-label": "Delete " + doc.id } }, "Delete");
    button.addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        button.textContent = "Really delete?";
        timer = window.setTimeout(() => { armed = false; button.textContent = "Delete"; }, 4000);
        return;
      }
      window.clearTimeout(timer);
      button.disabled = true;
      try {
        await T.request("/v1/documents/" + encodeURIComponent(doc.id), { method: "DELETE" });
        T.setStatus("Deleted " + doc.id + ".");
        await loadDocuments();
      } catch (err) {
        button.disabled = false;
        T.reportError(err);
      }
    });
    return button;
  }

  // A declared topic, or the topic of the versions in other languages the document was found to be (by content).
  function topicCell(meta) {
    if (meta.topic) return el("td", { class: "small" }, meta.topic);
    if (meta.detected_topic) {
      return el("td", { class: "small", title: "Found by content: a version of this topic in another language" },
        meta.detected_topic, " ", el("span", { class: "muted" }, "(found)"));
    }
    return el("td", {}, "");
  }

  async function loadDocuments() {
    const data = await T.request("/v1/documents?" + documentQuery());
    const items = (data && data.items) || [];
    state.total = (data && data.total) || 0;
    $("docs-total").textContent = "(" + state.total + ")";
    fill($("docs").tBodies[0], items.length ? items.map((d) => el("tr", { dataset: { documentId: d.id } },
      el("td", { title: d.source || "" }, d.title),
      el("td", { class: "small muted" }, d.id),
      topicCell(d.metadata || {}),
      el("td", {}, d.language || ""),
      el("td", {}, d.kind || ""),
      el("td", { class: "num" }, String(d.version ?? "")),
      el("td", { class: "num" }, String(d.chunks ?? "")),
      el("td", { class: "small" }, T.dateTime(d.indexed_at)),
      el("td", {}, deleteButton(d)))) : emptyRow(9, "No documents."));
    const last = Math.min(state.offset + items.length, state.total);
    $("docs-page").textContent = state.total ? (state.offset + 1) + "–" + last + " of " + state.total : "";
    $("docs-prev").disabled = state.offset === 0;
    $("docs-next").disabled = state.offset + PAGE_SIZE >= state.total;
  }

  async function loadJobs() {
    const data = await T.request("/v1/jobs?limit=20");
    const items = (data && data.items) || [];
    fill($("jobs").tBodies[0], items.length ? items.map((j) => {
      const counts = j.counts || {};
      const progress = j.progress || {};
      return el("tr", { dataset: { jobId: j.id, status: j.status } },
        el("td", { class: "small", title: j.id }, T.dateTime(j.created_at) || j.id.slice(0, 8)),
        el("td", {}, j.kind || ""),
        el("td", { class: j.status === "failed" ? "error" : "" }, j.status),
        el("td", { class: "num" }, (progress.done ?? 0) + "/" + (progress.total ?? 0)),
        ["added", "updated", "skipped", "deleted"].map((k) => el("td", { class: "num" }, String(counts[k] ?? 0))),
        el("td", { class: "small error" }, j.error || ""));
    }) : emptyRow(9, "No jobs yet."));
  }

  async function loadGaps() {
    const data = await T.request("/v1/gaps");
    const items = (data && data.items) || [];
    fill($("gaps").tBodies[0], items.length ? items.map((g) => el("tr", {},
      el("td", {}, g.question),
      el("td", { class: "num" }, String(g.count)),
      el("td", {}, g.language || ""),
      el("td", { class: "num" }, T.percent(g.best_score)),
      el("td", { class: "small" }, T.dateTime(g.last_seen)))) : emptyRow(5, "No gaps recorded."));
    const missing = (data && data.missing_versions) || [];
    fill($("missing-versions").tBodies[0], missing.length ? missing.map((m) => el("tr", {},
      el("td", {}, m.title, " ", el("span", { class: "muted small" }, m.topic)),
      el("td", {}, m.languages.join(", ")),
      el("td", {}, m.missing.join(", ")),
      el("td", { class: "num" }, String(m.conversations)))) : emptyRow(4, "Every topic exists in every language customers write in."));
  }

  function showJob(job) {
    const progress = job.progress || {};
    const total = progress.total || 0;
    const done = progress.done || 0;
    const share = job.status === "succeeded" ? 1 : total ? done / total : 0;
    const counts = job.counts || {};
    const summary = DONE.has(job.status)
      ? " · " + ["added", "updated", "skipped", "deleted"].map((k) => (counts[k] || 0) + " " + k).join(", ")
      : " · " + done + "/" + total;
    $("job-box").hidden = false;
    $("job-label").textContent = (job.kind ? job.kind + " " : "") + "job " + job.status + summary +
      (job.error ? " · " + job.error : "");
    $("job-label").classList.toggle("error", job.status === "failed");
    const bar = $("job-bar");
    bar.className = "bar progress " + (job.status === "failed" ? "poor" : job.status === "succeeded" ? "good" : "");
    bar.setAttribute("aria-valuenow", String(Math.round(share * 100)));
    bar.firstElementChild.style.width = (share * 100).toFixed(1) + "%";
  }

  /** Poll a job every 500 ms until it ends, showing its progress; then refresh the tables. */
  async function trackJob(jobId) {
    state.shownJob = jobId;
    showJob({ id: jobId, status: "queued", progress: { done: 0, total: 0 } });
    loadJobs().catch(T.reportError);
    for (;;) {
      const job = await T.request("/v1/jobs/" + encodeURIComponent(jobId));
      if (state.shownJob === jobId) showJob(job);
      if (DONE.has(job.status)) {
        if (job.status === "failed") T.setStatus("The job failed: " + (job.error || "no detail"), true);
        await Promise.all([loadDocuments(), loadJobs()]);
        return job;
      }
      await new Promise((resolve) => window.setTimeout(resolve, POLL_MS));
    }
  }

  async function submitPaste(event) {
    event.preventDefault();
    const form = event.target;
    const data = Object.fromEntries(new FormData(form).entries());
    const doc = { id: data.id.trim(), title: data.title.trim(), text: data.text, format: data.format || "markdown" };
    if (data.language) doc.language = data.language;
    if (data.kind && data.kind.trim()) doc.kind = data.kind.trim();
    const answer = await T.request("/v1/documents", { method: "POST", json: doc });
    T.setStatus("Queued " + doc.id + ".");
    form.reset();
    await trackJob(answer.job_id);
  }

  async function submitUpload(event) {
    event.preventDefault();
    const form = event.target;
    const data = new FormData();
    for (const file of $("upload-file").files) data.append("file", file, file.name);
    if ($("upload-language").value) data.append("language", $("upload-language").value);
    if ($("upload-kind").value.trim()) data.append("kind", $("upload-kind").value.trim());
    const answer = await T.request("/v1/documents", { method: "POST", form: data });
    T.setStatus("Uploaded " + answer.document_ids.length + " document(s).");
    form.reset();
    await trackJob(answer.job_id);
  }

  async function reindex(mode) {
    const answer = await T.request("/v1/reindex", { method: "POST", json: { mode } });
    await trackJob(answer.job_id);
  }

  /** An event handler running `fn` now (so it can still call preventDefault) and reporting its errors. */
  function guarded(fn) {
    return (...args) => {
      try {
        return Promise.resolve(fn(...args)).catch(T.reportError);
      } catch (err) {
        T.reportError(err);
        return undefined;
      }
    };
  }

  function setup() {
    $("paste-form").addEventListener("submit", guarded(submitPaste));
    $("upload-form").addEventListener("submit", guarded(submitUpload));
    $("reindex-incremental").addEventListener("click", guarded(() => reindex("incremental")));
    $("reindex-full").addEventListener("click", guarded(() => reindex("full")));
    $("doc-filters").addEventListener("submit", guarded((event) => {
      event.preventDefault();
      state.offset = 0;
      return loadDocuments();
    }));
    $("d-language").addEventListener("change", guarded(() => { state.offset = 0; return loadDocuments(); }));
    $("docs-prev").addEventListener("click", guarded(() => {
      state.offset = Math.max(0, state.offset - PAGE_SIZE);
      return loadDocuments();
    }));
    $("docs-next").addEventListener("click", guarded(() => {
      state.offset += PAGE_SIZE;
      return loadDocuments();
    }));
  }

  async function load() {
    await Promise.all([loadDocuments(), loadJobs(), loadGaps()]);
    const running = document.querySelector("#jobs tr[data-status='running'], #jobs tr[data-status='queued']");
    if (running) await trackJob(running.dataset.jobId);
  }

  T.boot({ setup, load });
})();

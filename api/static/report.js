/* The supervisor's service review: figures per agent and team over a period, two SVG charts, a CSV export. */
(() => {
  "use strict";
  const T = window.Tactful;
  const $ = (id) => document.getElementById(id);
  const { el, fill } = T;
  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Horizontal bars, one row per name; `series` is [label, colour class, value(figures)] stacked left to right. */
  function barChart(rows, series, unit) {
    const width = 560, row = 26, left = 140, right = 60;
    const totals = rows.map(([, f]) => series.reduce((sum, [, , value]) => sum + value(f), 0));
    const max = Math.max(1, ...totals);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${rows.length * row + 24}`, role: "img", width: "100%" });
    chart.appendChild(svg("title", {}, rows.length ? "" : "No data in this period"));
    rows.forEach(([name, f], i) => {
      const y = i * row + 4;
      chart.appendChild(svg("text", { x: left - 6, y: y + 15, "text-anchor": "end", class: "chart-label" }, name));
      let x = left;
      for (const [label, cls, value] of series) {
        const w = ((width - left - right) * value(f)) / max;
        if (w > 0) {
          const bar = svg("rect", { x, y, width: w, height: row - 8, class: "bar " + cls });
          bar.appendChild(svg("title", {}, `${name} · ${label}: ${value(f)}${unit}`));
          chart.appendChild(bar);
        }
        x += w;
      }
      chart.appendChild(svg("text", { x: x + 4, y: y + 15, class: "chart-value" }, String(Math.round(totals[i] * 100) / 100)));
    });
    const legend = el("div", { class: "chart-legend small" },
      series.map(([label, cls]) => el("span", {}, el("span", { class: "swatch " + cls }), " " + label)));
    return [chart, legend];
  }

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  function query() {
    const from = $("from").value;
    const to = new Date($("to").value + "T00:00:00Z");
    to.setUTCDate(to.getUTCDate() + 1);
    return "from=" + encodeURIComponent(from + "T00:00:00Z") + "&to=" + encodeURIComponent(to.toISOString());
  }

  function cell(value) {
    return el("td", {}, value === null || value === undefined ? "–" : String(value));
  }

  function render(report) {
    const all = report.all;
    $("summary").textContent = `${all.conversations} conversations · ${all.assists} assists · ` +
      `survey ${all.survey.mean_score === null ? "–" : all.survey.mean_score + "/5"} (${all.survey.responses})`;
    const agents = Object.entries(report.agents);
    fill($("tone-chart"), barChart(agents, [["tone issues", "tone", (f) => f.tone_issues_per_100_messages_total]], ""));
    fill($("follow-chart"), barChart(agents, [
      ["on time", "ok", (f) => f.follow_ups.on_time],
      ["late", "warn", (f) => f.follow_ups.late],
      ["missed", "bad", (f) => f.follow_ups.missed],
    ], ""));
    const head = ["", "name", "assists", "accepted", "edited", "dismissed", "tone /100", "flags", "confirmed",
      "follow-ups on time", "late", "missed", "escalations suggested", "taken", "first reply (s)", "survey"];
    fill($("figures").tHead, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h))));
    const rows = [["all", "everyone", all],
      ...agents.map(([n, f]) => ["agent", n, f]), ...Object.entries(report.teams).map(([n, f]) => ["team", n, f])];
    fill($("figures").tBodies[0], rows.map(([group, name, f]) => el("tr", { attrs: { "data-group": group, "data-name": name } },
      cell(group), cell(name), cell(f.assists), cell(f.suggestions.accepted), cell(f.suggestions.edited),
      cell(f.suggestions.dismissed), cell(f.tone_issues_per_100_messages_total), cell(f.flags.raised),
      cell(f.flags.confirmed), cell(f.follow_ups.on_time), cell(f.follow_ups.late), cell(f.follow_ups.missed),
      cell(f.escalations.suggested), cell(f.escalations.taken), cell(f.first_response_s),
      cell(f.survey.mean_score))));
  }

  async function load() {
    render(await T.request("/v1/reports/service?" + query()));
  }

  async function downloadCsv() {
    try {
      const csv = await T.text("/v1/reports/service.csv?" + query());
      const link = el("a", { attrs: { href: URL.createObjectURL(new Blob([csv], { type: "text/csv" })),
        download: `tactful-service-${$("from").value}-${$("to").value}.csv` } });
      document.body.appendChild(link);
      link.click();
      link.remove();
    } catch (err) {
      T.reportError(err);
    }
  }

  function setup() {
    const today = new Date();
    const weekAgo = new Date(today.getTime() - 6 * 86400000);
    $("from").value = isoDay(weekAgo);
    $("to").value = isoDay(today);
    $("period").addEventListener("submit", (event) => {
      event.preventDefault();
      load().catch(T.reportError);
    });
    $("csv").addEventListener("click", downloadCsv);
  }

  T.boot({ setup, load });
})();

/* Ops dashboard: draws the last-hour sparklines and refreshes the numbers from data.json. */
(function () {
  "use strict";
  var body = document.body;
  var source = body.getAttribute("data-source");
  var refreshMs = 1000 * Number(body.getAttribute("data-refresh-seconds") || 15);
  var charts = { "chart-requests": "requests", "chart-p95": "p95_ms", "chart-errors": "error_rate", "chart-cache": "cache_hit_ratio" };

  function draw(svg, values) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var present = values.filter(function (v) { return v !== null && v !== undefined; });
    var max = Math.max.apply(null, present.concat([1e-9]));
    var step = values.length > 1 ? 240 / (values.length - 1) : 240;
    var points = [];
    values.forEach(function (v, i) {
      if (v === null || v === undefined) { return; }
      points.push((i * step).toFixed(1) + "," + (58 - (v / max) * 54).toFixed(1));
    });
    var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.join(" "));
    svg.appendChild(line);
    var last = present.length ? present[present.length - 1] : null;
    svg.setAttribute("data-last", last === null ? "" : String(last));
    var label = document.getElementById(svg.id + "-last");
    if (label) { label.textContent = last === null ? "–" : String(Math.round(last * 1000) / 1000); }
  }

  function drawAll(series) {
    Object.keys(charts).forEach(function (id) {
      var svg = document.getElementById(id);
      if (svg) { draw(svg, series.map(function (point) { return point[charts[id]]; })); }
    });
  }

  function setText(selector, value) {
    var node = document.querySelector(selector);
    if (node && value !== undefined && value !== null) { node.textContent = String(value); }
  }

  function update(data) {
    Object.keys(data.queues || {}).forEach(function (q) { setText('[data-queue="' + q + '"]', data.queues[q]); });
    var outbox = data.outbox || {};
    Object.keys(outbox.records_by_status || {}).forEach(function (s) { setText('[data-outbox="' + s + '"]', outbox.records_by_status[s]); });
    Object.keys(outbox.budget_remaining || {}).forEach(function (k) { setText('[data-budget="' + k + '"]', outbox.budget_remaining[k]); });
    if (outbox.oldest_unsent_seconds !== null && outbox.oldest_unsent_seconds !== undefined) {
      setText("#outbox-oldest", Math.round(outbox.oldest_unsent_seconds) + " s");
    }
    var services = (data.health || {}).services || {};
    Object.keys(services).forEach(function (name) {
      var node = document.querySelector('[data-service="' + name + '"]');
      if (node) { node.textContent = services[name]; node.className = "badge " + services[name]; }
    });
    if (data.stats && data.stats.has_entry) { setText("#stats-age", Math.round(data.stats.age_seconds)); }
    if (data.snapshot_age_seconds !== null) { setText("#snapshot-age", data.snapshot_age_seconds + " s"); }
    Object.keys(data.beat || {}).forEach(function (b) { setText('[data-beat="' + b + '"]', data.beat[b]); });
    drawAll(data.series || []);
  }

  function refresh() {
    fetch(source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { update(data); body.setAttribute("data-refreshed", "1"); } })
      .catch(function () { /* keep the last numbers; the next tick retries */ });
  }

  var initial = document.getElementById("ops-series");
  drawAll(initial ? JSON.parse(initial.textContent) : []);
  window.setInterval(refresh, refreshMs);
  refresh();
}());

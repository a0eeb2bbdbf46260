// Charts from <div data-chart="ID"> and a <script type="application/json" id="ID"> block:
// {"kind": "bars"|"lines", "x": [unix seconds...], "series": [{"label", "values", "color"}],
//  "unit": "ms" (optional)}. Colours are CSS variable names (e.g. "--ok").
"use strict";
(function () {
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || name;
  const charts = [];

  function build(el) {
    const source = document.getElementById(el.dataset.chart);
    if (!source || !window.uPlot) return;
    const spec = JSON.parse(source.textContent);
    const spark = el.classList.contains("spark");
    const width = el.clientWidth || 600;
    const height = spark ? 32 : 220;
    const bars = spec.kind === "bars" ? window.uPlot.paths.bars({ size: [0.8, 40] }) : undefined;
    const axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
    const opts = {
      width, height,
      legend: { show: !spark },
      cursor: { show: !spark },
      axes: spark ? [{ show: false }, { show: false }] : [axis, Object.assign({ label: spec.unit || "" }, axis)],
      scales: { x: { time: true } },
      series: [{}].concat(spec.series.map((s) => ({
        label: s.label,
        stroke: css(s.color || "--primary"),
        fill: spec.kind === "bars" ? css(s.color || "--primary") + "99" : undefined,
        width: spark ? 1 : 2,
        paths: bars,
        points: { show: false },
      }))),
    };
    const data = [spec.x].concat(spec.series.map((s) => s.values));
    el.textContent = "";
    const chart = new window.uPlot(opts, data, el);
    el.setAttribute("role", "img");
    if (!el.getAttribute("aria-label")) el.setAttribute("aria-label", spec.title || "chart");
    charts.push([el, chart]);
  }

  function buildAll() {
    for (const [, chart] of charts.splice(0)) chart.destroy();
    document.querySelectorAll("[data-chart]").forEach(build);
  }
  window.hlCharts = { rebuild: buildAll };
  document.addEventListener("DOMContentLoaded", buildAll);
  document.addEventListener("hl:theme", buildAll);
  let pending;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(buildAll, 200); });
})();

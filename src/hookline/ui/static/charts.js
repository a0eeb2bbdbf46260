// Charts from <div data-chart="ID"> and a <script type="application/json" id="ID"> block:
// {"kind": "bars"|"lines", "x": [unix seconds...], "series": [{"label", "values", "color"}],
//  "unit": "ms" (optional), "points": true (optional: mark each value, join across gaps)}.
//  Colours are CSS variable names (e.g. "--ok").
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
    // two bar series stand side by side in their slot (left, right), not on top of each other
    const n = spec.series.length;
    const bars = (i) => spec.kind !== "bars" ? undefined : n === 2
      ? window.uPlot.paths.bars({ size: [0.4, 20], align: i === 0 ? -1 : 1 })
      : window.uPlot.paths.bars({ size: [0.8, 40] });
    // a bar is centred on its x: pad the range by half a slot so the edge bars show whole
    const step = spec.x.length > 1 ? spec.x[1] - spec.x[0] : 60;
    const xScale = spec.kind === "bars" ? { time: true, range: (u, min, max) => [min - step / 2, max + step / 2] } : { time: true };
    const axis = { stroke: css("--muted"), grid: { stroke: css("--border") }, ticks: { stroke: css("--border") } };
    const opts = {
      width, height,
      legend: { show: !spark },
      cursor: { show: !spark },
      axes: spark ? [{ show: false }, { show: false }] : [axis, Object.assign({ label: spec.unit || "" }, axis)],
      scales: { x: xScale },
      series: [{}].concat(spec.series.map((s, i) => ({
        label: s.label,
        stroke: css(s.color || "--primary"),
        fill: spec.kind === "bars" ? css(s.color || "--primary") + "99" : undefined,
        width: spark ? 1 : 2,
        paths: bars(i),
        // sparse series (latency has gaps where nothing was sent) show their points
        points: { show: !spark && !!spec.points, size: 5 },
        spanGaps: !!spec.points,
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

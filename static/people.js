/* Sightline: the user page's chart (cost and traces per day) with vendored Plotly.
 *
 * The data comes from a json_script payload named by the chart's data-chart attribute. Colours are
 * the theme's CSS variables, resolved through a probe element (the variables hold light-dark() values,
 * which only a real property resolves), and the chart re-colours when the theme changes.
 */
(function () {
  "use strict";

  function themeColour(variable) {
    var probe = document.createElement("span");
    probe.style.color = "var(" + variable + ")";
    probe.style.display = "none";
    document.body.appendChild(probe);
    var colour = getComputedStyle(probe).color;
    probe.remove();
    return colour;
  }

  var DAY = 86400000;

  function layout(data) {
    var text = themeColour("--text-2");
    var grid = themeColour("--border");
    var axis = { gridcolor: grid, linecolor: grid, zerolinecolor: grid, tickfont: { color: text } };
    return {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: getComputedStyle(document.body).fontFamily, size: 12, color: text },
      margin: { l: 56, r: 56, t: 12, b: 40 },
      showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.12, font: { color: text } },
      hovermode: "x unified",
      bargap: 0.3,
      xaxis: Object.assign({ type: "date", tickformat: "%b %-d" }, axis, dateRange(data.days)),
      yaxis: Object.assign({ title: { text: "Cost (USD)", font: { color: text } }, tickprefix: "$", rangemode: "tozero" }, axis),
      yaxis2: Object.assign(
        {
          title: { text: "Traces", font: { color: text } },
          overlaying: "y",
          side: "right",
          rangemode: "tozero",
          showgrid: false,
          tickformat: "d",
          dtick: Math.max.apply(null, data.traces.concat([0])) <= 8 ? 1 : undefined,
        },
        axis
      ),
    };
  }

  // A few days would otherwise be stretched over hours (or milliseconds) of axis: pad to whole days.
  function dateRange(days) {
    if (!days.length) return {};
    var first = Date.parse(days[0]);
    var last = Date.parse(days[days.length - 1]);
    if (last - first > 14 * DAY) return {};
    return { range: [first - DAY, last + DAY], dtick: DAY };
  }

  function traces(data) {
    return [
      {
        type: "bar",
        name: "Traces",
        x: data.days,
        y: data.traces,
        yaxis: "y2",
        width: 0.6 * DAY, // a date axis measures bar width in milliseconds
        marker: { color: themeColour("--info"), opacity: 0.35 },
        hovertemplate: "%{y} traces<extra></extra>",
      },
      {
        type: "scatter",
        mode: data.days.length > 1 ? "lines+markers" : "markers",
        name: "Cost",
        x: data.days,
        y: data.cost,
        line: { color: themeColour("--accent"), width: 2 },
        marker: { color: themeColour("--accent"), size: 6 },
        hovertemplate: "$%{y:.6f}<extra></extra>",
      },
    ];
  }

  function draw(element) {
    var payload = document.getElementById(element.getAttribute("data-chart"));
    if (!payload || !window.Plotly) return;
    var data = JSON.parse(payload.textContent);
    window.Plotly.react(element, traces(data), layout(data), { displaylogo: false, responsive: true });
    element.dataset.rendered = "true";
  }

  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }

  function init() {
    drawAll();
    // The theme toggle sets data-theme on <html>; the system preference can change while the page is open.
    new MutationObserver(drawAll).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    if (window.matchMedia) {
      window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawAll);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

// Charts: hourly series drawn with uPlot (vendored, src/console/web/vendor/uplot/), and bar
// lists drawn with <progress> elements. Each chart keeps what it draws in SL.charts[name]
// ({x: [unix seconds], series: {label: [values]}}, or {labels, values} for a bar list), so
// that the browser tests compare it with the API's numbers. A chart is made once per page
// and given new data with update(); dispose() frees it (the overview refreshes forever).
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;

  // Colours with at least 3:1 contrast on white, told apart also by the legend's labels.
  SL.PALETTE = ['#1f4e8c', '#c0392b', '#b7791f', '#00798c', '#2f855a', '#7b4f9d', '#5a5a5a', '#b83280', '#2b6cb0', '#744210'];

  // The unix seconds of each hour name of an API series.
  SL.hoursToX = (hours) => hours.map((iso) => Date.parse(iso) / 1000);

  const HEIGHT = 220;

  // A line chart of hourly series.
  //   name: the key in SL.charts; title: its heading;
  //   series: [{label, scale ('y' default, or 'y2' on the right), format(v) for the legend}];
  //   axes: {y: format of the left axis' ticks, y2: of the right one}.
  SL.lineChart = function (name, title, series, axes) {
    const body = h('div', { class: 'chart-body' });
    const figure = h('figure', { class: 'chart', dataset: { chart: name } },
      h('figcaption', { text: title }), body);
    let plot = null;
    let observer = null;

    function options(width) {
      const ax = axes || {};
      const opts = {
        width: Math.max(240, width),
        height: HEIGHT,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), SL.tz()),
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        series: [{ label: 'Hour (' + SL.tz() + ')' }].concat(series.map((s, i) => ({
          label: s.label,
          scale: s.scale || 'y',
          stroke: SL.PALETTE[i % SL.PALETTE.length],
          width: 2,
          // A rate has no value in an hour without clicks: its points are drawn, so that an
          // hour between two empty ones still shows.
          points: s.rate ? { show: true, size: 6 } : { show: false },
          value: (u, v) => (v === null || v === undefined ? '—' : (s.format ? s.format(v) : SL.fmt.int(v))),
        }))),
        axes: [
          { stroke: '#444', grid: { stroke: '#eee' }, ticks: { stroke: '#ccc' } },
          { stroke: '#444', grid: { stroke: '#eee' }, ticks: { stroke: '#ccc' }, size: 60, values: (u, vals) => vals.map(ax.y || SL.fmt.int) },
        ],
      };
      if (series.some((s) => s.scale === 'y2')) {
        // (a loss shows below zero: profit may be negative)
        opts.scales.y2 = { range: (u, min, max) => [Math.min(0, min * 1.1), max > 0 ? max * 1.1 : 1] };
        opts.axes.push({ scale: 'y2', side: 1, stroke: '#444', grid: { show: false }, size: 60, values: (u, vals) => vals.map(ax.y2 || SL.fmt.int) });
      }
      return opts;
    }

    return {
      el: figure,
      // x: unix seconds; columns: one list per series, in the order given.
      update(x, columns) {
        SL.charts[name] = { x: x.slice(), series: Object.fromEntries(series.map((s, i) => [s.label, columns[i].slice()])) };
        figure.setAttribute('aria-label', title + ': ' + series.map((s, i) => s.label + ' ' + summary(columns[i], s)).join(', '));
        const data = [x].concat(columns);
        if (plot) {
          plot.setData(data);
          return;
        }
        plot = new uPlot(options(body.clientWidth || 600), data, body);
        observer = new ResizeObserver(() => {
          const w = Math.max(240, body.clientWidth);
          if (plot && Math.abs(plot.width - w) > 1) plot.setSize({ width: w, height: HEIGHT });
        });
        observer.observe(body);
      },
      dispose() {
        if (observer) observer.disconnect();
        if (plot) plot.destroy();
        observer = null;
        plot = null;
        delete SL.charts[name];
      },
    };
  };

  // What a screen reader hears of a series: its total (or last value, for a rate).
  function summary(values, s) {
    const known = values.filter((v) => v !== null && v !== undefined);
    if (!known.length) return 'no data';
    if (s.rate) return 'last ' + (s.format ? s.format(known[known.length - 1]) : known[known.length - 1]);
    const sum = known.reduce((a, b) => a + b, 0);
    return 'total ' + (s.format ? s.format(sum) : SL.fmt.int(sum));
  }

  // A horizontal bar per item: [{label, value (a number), text (shown)}].
  SL.barList = function (name, title, items, empty) {
    SL.charts[name] = { labels: items.map((i) => i.label), values: items.map((i) => i.value) };
    const figure = h('figure', { class: 'chart bar-list', dataset: { chart: name } }, h('figcaption', { text: title }));
    const max = Math.max(0, ...items.map((i) => i.value || 0));
    if (!items.length || max <= 0) {
      figure.append(SL.empty(empty || 'Nothing to show yet.'));
      return figure;
    }
    const list = h('ul');
    for (const item of items) {
      const id = SL.id('bar');
      list.append(h('li', {},
        h('label', { for: id, text: item.label, title: item.label }),
        h('progress', { id, max, value: item.value || 0 }),
        h('span', { class: 'bar-value', text: item.text })));
    }
    figure.append(list);
    return figure;
  };
})();

// Destination health (destination_health.json): every offer and landing page with what
// the health checks found of it (up, down, pending, unchecked), the last probe, its latency
// and the reason of the last failure. Refreshes itself as the overview does. The offer
// pages show the same state through SL.health.
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;
  const f = SL.fmt;

  // The states in the order the page lists them: what needs a look first.
  const ORDER = ['down', 'pending', 'up', 'unchecked'];

  // Every destination's row of destination_health.json, by "offer:12" / "landing_page:7",
  // and whether checks are on.
  SL.health = async function () {
    const r = await SL.api.get('destination_health.json');
    return { enabled: r.enabled, allDown: r.all_down, byKey: new Map(r.destinations.map((d) => [d.kind + ':' + d.id, d])), rows: r.destinations };
  };

  // A destination's state as a badge, with its last probe in the title.
  SL.healthBadge = function (d) {
    if (!d) return SL.badge('unchecked');
    const b = SL.badge(d.state);
    if (d.last_check) b.title = 'Last probe ' + f.time(d.last_check, true) + ' (' + SL.tz() + ')' + (d.last_error ? '; last error: ' + d.last_error : '');
    return b;
  };

  SL.latency = (ms) => (ms === null || ms === undefined ? '—' : f.int(ms) + ' ms');

  SL.pages.health = function (el, route) {
    let every = Number(route.query.get('refresh') || 5);
    let disposed = false;
    const refresher = SL.refresher(load, every, (e) => {
      every = e;
      SL.setQuery({ refresh: every === 5 ? null : every });
    });
    const problem = h('div');
    const results = h('div', {}, SL.loading());
    el.append(
      SL.header('Destination health', 'What this server\'s health checks found of each active offer and landing page; routing skips a destination that is down. Times in ' + SL.tz() + '.'),
      h('div', { class: 'controls' }, refresher.control, refresher.updated),
      problem, results);

    async function load() {
      try {
        const health = await SL.health();
        if (disposed) return true;
        SL.clear(problem);
        draw(health);
        return true;
      } catch (e) {
        if (!disposed) SL.failed(problem, e, refresher.run);
        return false;
      }
    }

    function draw(health) {
      const rows = health.rows.slice().sort((a, b) => ORDER.indexOf(a.state) - ORDER.indexOf(b.state) || a.kind.localeCompare(b.kind) || a.id - b.id);
      const count = (s) => rows.filter((d) => d.state === s).length;
      const link = (d) => (d.kind === 'offer'
        ? h('a', { href: '#/offers/' + d.id, text: (d.name || 'Offer') + ' (offer ' + d.id + ')' })
        : (d.name || 'Landing page') + ' (landing page ' + d.id + ')');
      SL.clear(results).append(
        health.enabled
          ? h('p', { class: 'muted', text: 'While every candidate of a click is down: ' + (health.allDown === 'fallback' ? 'the click goes to the fallback URL (health.all_down = "fallback").' : 'routing ignores the checks (health.all_down = "ignore").') })
          : h('p', { class: 'notice', text: 'Health checks are off on this server ([health] enabled = false): no destination is probed, every one is listed as unchecked and routed to.' }),
        SL.tiles([['Down', f.int(count('down'))], ['Pending', f.int(count('pending'))], ['Up', f.int(count('up'))], ['Unchecked', f.int(count('unchecked'))]]),
        SL.table('Destinations, those down first (times in ' + SL.tz() + ')', [
          { label: 'Destination', value: link },
          { label: 'State', value: (d) => SL.badge(d.state) },
          { label: 'Last probe', value: (d) => f.time(d.last_check, true) },
          { label: 'Latency', class: 'num', value: (d) => SL.latency(d.latency_ms) },
          { label: 'HTTP status', class: 'num', value: (d) => (d.http_status === null ? '—' : String(d.http_status)) },
          { label: 'Last error', value: (d) => d.last_error || '—' },
          { label: 'URL probed', value: (d) => (d.url ? h('code', { class: 'url', text: d.url }) : '—') },
          { label: 'In a row', value: (d) => (d.consecutive_failures === null ? '—' : f.int(d.consecutive_failures) + ' failed, ' + f.int(d.consecutive_successes) + ' succeeded') },
          // In cluster mode the probe of a destination is one node's (it holds the lease).
          SL.session.cluster ? { label: 'Probed by', value: (d) => d.checked_by || '—' } : null,
        ].filter(Boolean), rows, 'The catalog has no offer or landing page.'));
    }

    refresher.run();
    return { dispose() { disposed = true; refresher.dispose(); } };
  };
})();

// The network overview: the last 24 hours or 7 days by hour (network_stats.json), offers
// near or at a cap (offer_stats.json), and in cluster mode each node (cluster_nodes.json).
// Refreshes itself every few seconds: the charts take new data in place, the tables are
// drawn again, nothing accumulates (the browser tests watch the heap and the DOM).
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;
  const f = SL.fmt;

  const REASONS = [['no_match', 'No match'], ['all_capped', 'All capped'], ['bot', 'Bot'], ['inactive', 'Inactive link'], ['anonymous', 'Anonymous network'], ['destination_down', 'Destination down']];
  // A cap at or above this share of its limit is "near" (as smartlink_offers_near_cap).
  const NEAR = 0.9;

  SL.pages.overview = function (el, route) {
    let period = SL.PERIODS[route.query.get('period')] ? route.query.get('period') : '24h';
    let every = Number(route.query.get('refresh') || 5);
    let disposed = false;

    const refresher = SL.refresher(load, every, (e) => {
      every = e;
      SL.setQuery({ period, refresh: every === 5 ? null : every });
    });
    const controls = h('div', { class: 'controls' },
      SL.periodSwitch(period, (p) => {
        period = p;
        SL.setQuery({ period: p === '24h' ? null : p, refresh: every === 5 ? null : every });
        refresher.run();
      }),
      refresher.control,
      refresher.updated);

    const tiles = h('div', { class: 'tiles-box' }, SL.loading());
    const charts = {
      clicks: SL.lineChart('overview.clicks', 'Clicks per hour', [
        { label: 'Clicks' }, { label: 'Routed' }, { label: 'Fallbacks' }]),
      fallbacks: SL.lineChart('overview.fallbacks', 'Fallbacks per hour, by reason',
        REASONS.map(([, label]) => ({ label }))),
      fill: SL.lineChart('overview.fill_rate', 'Fill rate per hour (routed / clicks)',
        [{ label: 'Fill rate', format: (v) => f.pct(v), rate: true }], { y: (v) => Math.round(v * 100) + ' %' }),
      earnings: SL.lineChart('overview.conversions', 'Conversions, revenue, cost and profit per hour', [
        { label: 'Conversions' },
        { label: 'Revenue', scale: 'y2', format: (v) => f.decimal(v.toFixed(2)) },
        { label: 'Cost', scale: 'y2', format: (v) => f.decimal(v.toFixed(2)) },
        { label: 'Profit', scale: 'y2', format: (v) => f.decimal(v.toFixed(2)) }], { y2: (v) => f.decimal(String(v), 0) }),
      epc: SL.lineChart('overview.epc', 'EPC per hour (revenue / routed click)',
        [{ label: 'EPC', format: (v) => f.decimal(v.toFixed(4), 4), rate: true }], { y: (v) => v.toFixed(3) }),
    };
    const tables = h('div', {}, SL.loading());
    const caps = h('section', { class: 'section', attrs: { 'aria-labelledby': 'caps-title' } },
      h('h2', { id: 'caps-title', text: 'Offers near or at a cap' }), SL.loading());
    const nodes = h('section', { class: 'section', hidden: !SL.session.cluster, attrs: { 'aria-labelledby': 'nodes-title' } },
      h('h2', { id: 'nodes-title', text: 'Cluster nodes' }), SL.session.cluster ? SL.loading() : null);
    const problem = h('div');

    el.append(
      SL.header('Network overview', 'Every smart link and campaign, hour by hour. Times in ' + SL.tz() + '.'),
      controls, problem, tiles,
      h('div', { class: 'charts' }, Object.values(charts).map((c) => c.el)),
      tables, caps, nodes);

    async function load() {
      const range = SL.range(period);
      try {
        const [stats, offers, cluster] = await Promise.all([
          SL.api.get('network_stats.json', Object.assign({ top: 10 }, range)),
          SL.api.get('offer_stats.json'),
          SL.session.cluster ? SL.api.get('cluster_nodes.json') : Promise.resolve(null),
        ]);
        if (disposed) return true;
        SL.clear(problem);
        draw(stats.response, offers.response.offers, cluster && cluster.response);
        return true;
      } catch (e) {
        if (!disposed) SL.failed(problem, e, refresher.run);
        return false;
      }
    }

    function draw(s, offers, cluster) {
      const t = s.totals;
      SL.clear(tiles).append(SL.tiles([
        ['Clicks', f.int(t.clicks)],
        ['Routed', f.int(t.routed)],
        ['Fallbacks', f.int(t.clicks - t.routed)],
        ['Fill rate', f.pct(t.fill_rate)],
        ['Conversions', f.int(t.conversions)],
        ['Conversion rate', f.pct(t.conversion_rate, 2)],
        ...SL.moneyTiles(t),
        ['EPC per click', f.epc(t.epc)],
      ]));
      if (!t.clicks) {
        tiles.append(SL.empty('No clicks in this period yet. Send traffic to a smart link\'s tracking URL (see Smart links) or a campaign\'s tracking link: it shows here within seconds.'));
      }
      const x = SL.hoursToX(s.hours);
      const fallbacks = s.clicks.map((c, i) => c - s.routed[i]);
      charts.clicks.update(x, [s.clicks, s.routed, fallbacks]);
      charts.fallbacks.update(x, REASONS.map(([key]) => s.fallback[key]));
      charts.fill.update(x, [s.fill_rate]);
      charts.earnings.update(x, [s.conversions, s.revenue.map(Number), s.cost.map(Number), s.profit.map(Number)]);
      charts.epc.update(x, [s.epc.map((v) => (v === null ? null : Number(v)))]);

      SL.clear(tables).append(
        h('section', {}, SL.table('Top smart links by clicks', [
          { label: 'Smart link', value: (r) => h('a', { href: '#/links/' + r.smart_link_id, text: (r.smart_link_name || 'Smart link') + ' (' + r.smart_link_id + ')' }) },
          { label: 'Clicks', class: 'num', value: (r) => f.int(r.clicks) },
          { label: 'Fill rate', class: 'num', value: (r) => f.pct(r.fill_rate) },
          { label: 'Conversions', class: 'num', value: (r) => f.int(r.conversions) },
          ...SL.moneyColumns((r) => r),
          { label: 'EPC per click', class: 'num', value: (r) => f.epc(r.epc) },
        ], s.top_smart_links, 'No smart link had clicks in this period.')),
        h('section', {}, SL.table('Top offers by routed clicks', [
          { label: 'Offer', value: (r) => h('a', { href: '#/offers/' + r.offer_id, text: (r.offer_name || 'Offer') + ' (' + r.offer_id + ')' }) },
          { label: 'Clicks', class: 'num', value: (r) => f.int(r.clicks) },
          { label: 'Conversions', class: 'num', value: (r) => f.int(r.conversions) },
          ...SL.moneyColumns((r) => r),
          { label: 'EPC per click', class: 'num', value: (r) => f.epc(r.epc) },
        ], s.top_offers, 'No offer had clicks in this period.')));

      const near = [];
      for (const o of offers) {
        for (const c of o.caps || []) {
          const share = c.limit > 0 ? c.count / c.limit : 1;
          if (share >= NEAR || o.capped === c.cap) near.push({ o, c, share });
        }
      }
      near.sort((a, b) => b.share - a.share);
      const capsBody = SL.table('Caps in their current window (' + SL.tz() + ')', [
        { label: 'Offer', value: (r) => h('a', { href: '#/offers/' + r.o.offer_id, text: r.o.offer_name + ' (' + r.o.offer_id + ')' }) },
        { label: 'Cap', value: (r) => r.c.cap.replace(/_/g, ' ') },
        { label: 'Used', value: (r) => SL.capBar(r.c) },
        { label: 'State', value: (r) => SL.badge(r.share >= 1 ? 'capped' : 'near') },
      ], near, 'No offer is at ' + Math.round(NEAR * 100) + ' % of a cap or more.');
      caps.replaceChildren(caps.firstChild, capsBody);

      if (cluster) {
        nodes.hidden = false;
        nodes.replaceChildren(nodes.firstChild,
          h('p', { class: 'muted', text: 'This node: ' + cluster.this_node + ' · Redis ' + (cluster.redis_up ? 'up' : 'down') + ' · catalog generation ' + cluster.catalog_generation }),
          SL.table('Nodes (lifetime shares of clicks)', [
            { label: 'Node', value: (r) => r.node },
            { label: 'State', value: (r) => SL.badge(r.state) },
            { label: 'Seen', value: (r) => r.seen_seconds_ago.toFixed(1) + ' s ago' },
            { label: 'Catalog generation', class: 'num', value: (r) => f.int(r.catalog_generation) },
            { label: 'Clicks', class: 'num', value: (r) => f.int(r.clicks) },
            { label: 'Share', class: 'num', value: (r) => f.pct(r.share) },
            { label: 'Queued postbacks', class: 'num', value: (r) => f.int(r.postbacks_queued) },
          ], cluster.nodes, 'No node has reported yet.'));
      }
    }

    refresher.run();
    return {
      dispose() {
        disposed = true;
        refresher.dispose();
        Object.values(charts).forEach((c) => c.dispose());
      },
    };
  };

  // A cap's count against its limit: a progress bar with the numbers.
  SL.capBar = function (c) {
    const id = SL.id('cap');
    return h('span', { class: 'cap' },
      h('progress', { id, max: c.limit || 1, value: Math.min(c.count, c.limit), attrs: { 'aria-label': c.cap.replace(/_/g, ' ') } }),
      ' ' + f.int(c.count) + ' / ' + f.int(c.limit));
  };
})();

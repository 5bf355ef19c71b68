// Smart links: the list (searched and paged by the server: smart_links.json), one link
// (its attachments, caps, optimized weights, and charts from smart_link_hourly.json), a new
// link, and the edit form, saved as one batch.json (all or nothing).
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;
  const f = SL.fmt;

  const PAGE = 50;

  // ---------------------------------------------------------------------------------------
  // The list.

  SL.pages.links = function (el, route) {
    const state = {
      q: route.query.get('q') || '',
      status: route.query.get('status') || '',
      page: Math.max(1, Number(route.query.get('page')) || 1),
    };
    let disposed = false;
    let timer = null;
    let asked = 0;

    const search = h('input', { id: 'link-search', type: 'search', value: state.q, attrs: { placeholder: 'Name or id', autocomplete: 'off' } });
    const status = SL.select('status', [['', 'Any status'], ['active', 'Active'], ['inactive', 'Inactive']], state.status);
    status.id = 'link-status';
    const results = h('div', { class: 'results', attrs: { 'aria-live': 'polite' } }, SL.loading());
    el.append(
      SL.header('Smart links', 'Search by name or id; the server pages the list.', [
        SL.canWrite() ? SL.linkButton('New smart link', '#/links/new', 'primary') : null,
      ].filter(Boolean)),
      h('form', { class: 'controls', attrs: { role: 'search' }, on: { submit: (e) => { e.preventDefault(); state.page = 1; load(); } } },
        h('div', { class: 'inline-field' }, h('label', { for: 'link-search', text: 'Search' }), search),
        h('div', { class: 'inline-field' }, h('label', { for: 'link-status', text: 'Status' }), status)),
      results);
    search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.page = 1; load(); }, 250);
    });
    status.addEventListener('change', () => { state.page = 1; load(); });

    async function load() {
      const mine = ++asked;
      state.q = search.value.trim();
      state.status = status.value;
      SL.setQuery({ q: state.q, status: state.status, page: state.page > 1 ? state.page : null });
      try {
        const r = await SL.api.get('smart_links.json', {
          search: state.q, smart_link_status: state.status,
          start_at_row: (state.page - 1) * PAGE, row_limit: PAGE,
        });
        if (disposed || mine !== asked) return;
        draw(r.response.smart_links, r.response.total_rows);
      } catch (e) {
        if (!disposed && mine === asked) SL.failed(results, e, load);
      }
    }

    function draw(links, total) {
      const empty = state.q || state.status
        ? 'No smart link matches this search.'
        : 'No smart links yet.' + (SL.canWrite() ? ' Create one with “New smart link”.' : '');
      const table = SL.table('Smart links', [
        { label: 'Id', class: 'num', value: (l) => String(l.smart_link_id) },
        { label: 'Name', value: (l) => h('a', { href: '#/links/' + l.smart_link_id, text: l.smart_link_name }) },
        { label: 'Affiliate', class: 'num', value: (l) => String(l.affiliate_id) },
        { label: 'Status', value: (l) => SL.badge(l.smart_link_status) },
        { label: 'Rotation', value: (l) => l.rotation || 'random' },
        { label: 'Offers', class: 'num', value: (l) => f.int(l.offer_count) },
        { label: 'Tracking URL', value: (l) => h('code', { class: 'url', text: l.tracking_url }) },
      ], links, empty);
      const [count, pager] = SL.pager(state.page, PAGE, links.length, total, 'smart links', (p) => { state.page = p; load(); });
      SL.clear(results).append(count, table, pager || '');
    }

    load();
    return { dispose() { disposed = true; clearTimeout(timer); } };
  };

  // ---------------------------------------------------------------------------------------
  // One link.

  // The link of `id` as smart_links.json lists it, or a 404 error.
  async function linkOf(id) {
    const r = await SL.api.get('smart_links.json', { smart_link_id: id });
    const link = r.response.smart_links[0];
    if (!link) throw new SL.ApiError(404, [{ field: 'smart_link_id', message: 'smart link ' + id + ' does not exist' }]);
    return link;
  }

  // Every offer's name, status and caps (offer_stats.json, lifetime).
  async function offerStats() {
    const r = await SL.api.get('offer_stats.json');
    return new Map(r.response.offers.map((o) => [o.offer_id, o]));
  }

  // The conditions of an attachment other than weight and priority, as short text.
  function conditionsText(a) {
    const parts = [];
    for (const [k, v] of Object.entries(a)) {
      if (['offer_id', 'offer_weight', 'priority', 'optimized', 'affiliate_payout'].includes(k)) continue;
      if (Array.isArray(v) && !v.length) continue;
      if (v === false || v === null) continue;
      parts.push(k.replace(/_/g, ' ') + ': ' + (Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : x)).join(', ') : JSON.stringify(v)));
    }
    return parts.length ? parts.join('; ') : 'any click';
  }

  // Every offer's affiliate payout (offers.json), what an attachment without its own pays.
  async function affiliatePayouts() {
    const r = await SL.api.get('offers.json', { row_limit: 5000 });
    return new Map(r.response.offers.map((o) => [o.offer_id, o.affiliate_payout]));
  }

  // An attachment's affiliate payout: its own, or its offer's (`payouts`: offer id → text).
  function payoutText(a, payouts) {
    if (a.affiliate_payout !== undefined && a.affiliate_payout !== null) return f.money(a.affiliate_payout) + ' (own)';
    return payouts.has(a.offer_id) ? f.money(payouts.get(a.offer_id)) + ' (offer\'s)' : 'the offer\'s';
  }

  SL.pages.link = async function (el, route) {
    const id = Number(route.args[0]);
    let period = SL.PERIODS[route.query.get('period')] ? route.query.get('period') : '24h';
    let disposed = false;
    el.append(SL.loading());
    const [link, attached, offers, payouts, health] = await Promise.all([
      linkOf(id), SL.api.get('smart_link_offers.json', { smart_link_id: id }), offerStats(), affiliatePayouts(),
      SL.health(),
    ]);
    if (disposed) return null;
    const attachments = attached.response.offers;
    const optimized = attached.response.rotation === 'optimized';
    const name = (oid) => (offers.get(oid) ? offers.get(oid).offer_name : 'Offer') + ' (' + oid + ')';

    const series = attachments.map((a) => ({ label: name(a.offer_id) }));
    const charts = {
      clicks: SL.lineChart('link.clicks', 'Clicks by attachment per hour', series.concat([{ label: 'Fallback' }])),
      fill: SL.lineChart('link.fill_rate', 'Fill rate and fallbacks per hour', [
        { label: 'Fill rate', scale: 'y2', format: (v) => f.pct(v), rate: true },
        { label: 'No match' }, { label: 'All capped' }, { label: 'Bot' }, { label: 'Inactive link' }, { label: 'Anonymous network' }, { label: 'Destination down' },
      ], { y2: (v) => Math.round(v * 100) + ' %' }),
    };
    const tiles = h('div', { class: 'tiles-box' });
    const epc = h('div', { class: 'epc-box' });
    const table = h('div');
    const problem = h('div');

    SL.clear(el).append(
      SL.header(link.smart_link_name, 'Smart link ' + id + ' · affiliate ' + link.affiliate_id + ' · times in ' + SL.tz(), [
        SL.canWrite() ? SL.linkButton('Edit', '#/links/' + id + '/edit', 'primary') : null,
        SL.linkButton('Explain a click', '#/explain?link=' + id),
      ].filter(Boolean)),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', { text: 'Status' }), h('dd', {}, SL.badge(link.smart_link_status))),
        h('div', {}, h('dt', { text: 'Rotation' }), h('dd', { text: (link.rotation || 'random') + (optimized ? ' (window ' + (link.optimize_window_hours || 168) + ' h, floor ' + f.pct(link.optimize_min_share === undefined ? 0.05 : link.optimize_min_share) + ')' : '') })),
        h('div', {}, h('dt', { text: 'Fallback URL' }), h('dd', {}, h('code', { class: 'url', text: link.fallback_url || 'the server default (server.default_fallback_url)' }))),
        h('div', {}, h('dt', { text: 'Partner postback URL' }), h('dd', {}, link.postback_url ? h('code', { class: 'url', text: link.postback_url }) : 'the affiliate\'s'))),
      SL.copyable('Tracking URL', link.tracking_url),
      h('div', { class: 'controls' }, SL.periodSwitch(period, (p) => { period = p; SL.setQuery({ period: p === '24h' ? null : p }); load(); })),
      problem, tiles, table,
      h('div', { class: 'charts' }, charts.clicks.el, charts.fill.el, epc));

    async function load() {
      const range = SL.range(period);
      try {
        const [hourly, stats] = await Promise.all([
          SL.api.get('smart_link_hourly.json', Object.assign({ smart_link_id: id }, range)),
          SL.api.get('smart_link_stats.json', Object.assign({ smart_link_id: id }, range)),
        ]);
        if (disposed) return;
        SL.clear(problem);
        draw(hourly.response, stats.response);
      } catch (e) {
        if (!disposed) SL.failed(problem, e, load);
      }
    }

    function draw(s, stats) {
      SL.clear(tiles).append(SL.tiles([
        ['Clicks', f.int(stats.clicks)], ['Routed', f.int(stats.routed)], ['Fill rate', f.pct(stats.fill_rate)],
        ['Conversions', f.int(stats.conversions)], ...SL.moneyTiles(stats), ['EPC per click', f.epc(stats.epc)],
      ]));
      const routed = new Map(stats.offers.map((o) => [o.offer_id, o]));
      const groups = new Map();
      for (const a of attachments) groups.set(a.priority, (groups.get(a.priority) || 0) + a.offer_weight);
      SL.append(SL.clear(table), [SL.table('Attachments by priority (lower first); each weight with its share of its priority', [
        { label: 'Priority', class: 'num', value: (a) => String(a.priority) },
        { label: 'Offer', value: (a) => h('span', {}, h('a', { href: '#/offers/' + a.offer_id, text: name(a.offer_id) }), ' ', offers.get(a.offer_id) ? SL.badge(offers.get(a.offer_id).offer_status) : null) },
        { label: 'Weight', class: 'num', value: (a) => a.offer_weight + ' (' + f.pct(a.offer_weight / groups.get(a.priority), 0) + ')' },
        optimized ? { label: 'Weight in force', class: 'num', value: (a) => (a.optimized ? f.pct(a.optimized.share) : '—') } : null,
        { label: 'Conditions', value: (a) => conditionsText(a) },
        { label: 'Caps', value: (a) => capsOf(offers.get(a.offer_id)) },
        // Routing skips an attachment whose offer is down (destination health checks).
        health.enabled ? { label: 'Health', value: (a) => h('a', { href: '#/health' }, SL.healthBadge(health.byKey.get('offer:' + a.offer_id))) } : null,
        { label: 'Affiliate payout', class: 'num', value: (a) => payoutText(a, payouts) },
      ].filter(Boolean), attachments, 'No offer is attached: every click goes to the fallback URL.' + (SL.canWrite() ? ' Attach offers with “Edit”.' : '')),
      attachments.length ? SL.table('Each attachment\'s figures (' + SL.PERIODS[period].label.toLowerCase() + ')', [
        { label: 'Offer', value: (a) => h('a', { href: '#/offers/' + a.offer_id, text: name(a.offer_id) }) },
        { label: 'Routed', class: 'num', value: (a) => f.int(routed.get(a.offer_id) ? routed.get(a.offer_id).routed : 0) },
        { label: 'Conversions', class: 'num', value: (a) => f.int(routed.get(a.offer_id) ? routed.get(a.offer_id).conversions : 0) },
        ...SL.moneyColumns((a) => routed.get(a.offer_id)),
        { label: 'EPC per click', class: 'num', value: (a) => f.epc(routed.get(a.offer_id) ? routed.get(a.offer_id).epc : null) },
      ], attachments) : null]);

      const x = SL.hoursToX(s.hours);
      const fallbacks = s.clicks.map((c, i) => c - s.routed[i]);
      charts.clicks.update(x, s.offers.map((o) => o.routed).concat([fallbacks]));
      charts.fill.update(x, [s.fill_rate, s.fallback.no_match, s.fallback.all_capped, s.fallback.bot, s.fallback.inactive, s.fallback.anonymous, s.fallback.destination_down]);
      epc.replaceChildren(SL.barList('link.epc', 'EPC by attachment (' + SL.PERIODS[period].label.toLowerCase() + ')',
        stats.offers.map((o) => ({ label: name(o.offer_id), value: o.epc === null ? 0 : Number(o.epc), text: f.epc(o.epc) })),
        'No attachment earned in this period.'));
    }

    function capsOf(o) {
      if (!o || !o.caps || !o.caps.length) return 'none';
      return h('span', { class: 'caps' }, o.caps.map((c) => h('span', { class: 'cap-line' }, c.cap.replace(/_/g, ' ') + ' ', SL.capBar(c))));
    }

    await load();
    return {
      dispose() {
        disposed = true;
        Object.values(charts).forEach((c) => c.dispose());
        delete SL.charts['link.epc'];
      },
    };
  };

  // ---------------------------------------------------------------------------------------
  // A new link: its fields only (offers are attached on the edit page that follows).

  async function affiliateOptions() {
    const r = await SL.api.get('affiliates.json', { row_limit: 5000 });
    return r.response.affiliates.map((a) => [a.affiliate_id, a.affiliate_name + ' (' + a.affiliate_id + ')']);
  }

  const ROTATIONS = [['random', 'Random by weight'], ['exact', 'Exact (weighted round-robin)'], ['optimized', 'Optimized (learns EPC)']];

  SL.pages.linkNew = async function (el) {
    const affiliates = await affiliateOptions();
    const form = h('form', { class: 'card form', novalidate: true });
    const controls = {
      smart_link_name: SL.input('smart_link_name', ''),
      affiliate_id: SL.select('affiliate_id', affiliates, ''),
      smart_link_status: SL.select('smart_link_status', [['active', 'Active'], ['inactive', 'Inactive']], 'active'),
      rotation: SL.select('rotation', ROTATIONS, 'random'),
      fallback_url: SL.input('fallback_url', '', { type: 'url' }),
    };
    form.append(SL.formErrors(),
      SL.field('Name', controls.smart_link_name, { name: 'smart_link_name' }),
      SL.field('Affiliate', controls.affiliate_id, { name: 'affiliate_id' }),
      SL.field('Status', controls.smart_link_status, { name: 'smart_link_status' }),
      SL.field('Rotation', controls.rotation, { name: 'rotation' }),
      SL.field('Fallback URL', controls.fallback_url, { name: 'fallback_url', hint: 'Where clicks go when no offer qualifies; empty: the server default. Macros such as {click_id} and {s1} may follow the host.' }),
      SL.formActions('Create', '#/links'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const params = {};
      for (const [k, c] of Object.entries(controls)) if (c.value.trim() !== '') params[k] = c.value.trim();
      try {
        const r = await SL.api.post('smart_link.json', params);
        SL.notify('Smart link created. Attach its offers below and save.');
        location.hash = '#/links/' + r.response.smart_link_id + '/edit';
      } catch (err) {
        SL.showErrors(form, err);
      }
    });
    el.append(SL.header('New smart link'), SL.lockIfReadOnly(form));
  };

  // ---------------------------------------------------------------------------------------
  // The change preview of the edit page: what the pending edit would have done to this
  // link's clicks of the last day (preview.json's answer `r`; `offers` names the offers).

  const PREVIEW_HOURS = 24;
  const REASONS = { no_match: 'no match', all_capped: 'all capped', bot: 'bot', inactive: 'inactive link', anonymous: 'anonymous network', destination_down: 'destination down' };

  function previewOf(r, id, offers) {
    const names = new Map(offers.map((o) => [o.offer_id, o.offer_name]));
    const where = (w) => (w.offer_id !== undefined
      ? (names.get(w.offer_id) || 'Offer') + ' (' + w.offer_id + ')'
      : 'Fallback: ' + (REASONS[w.fallback] || String(w.fallback).replace(/_/g, ' ')));
    const period = f.time(r.period.from) + ' – ' + f.time(r.period.to) + ' (' + SL.tz() + ')';
    const out = [h('h2', { id: 'preview-title', text: 'Preview: this link\'s clicks of the last ' + PREVIEW_HOURS + ' hours' })];
    const link = r.smart_links.find((l) => l.smart_link_id === id);
    if (!link || !link.replayed) {
      out.push(SL.empty('No click of this link was recorded on this node in the last ' + PREVIEW_HOURS + ' hours (' + period + '): there is nothing to replay. The change applies to the clicks to come.'));
    } else {
      const n = link.replayed;
      const moved = link.moved.reduce((sum, m) => sum + m.clicks, 0);
      const share = (c) => f.clicks(c) + ' (' + f.pct(c / n) + ')';
      out.push(
        h('p', { class: 'preview-summary' }, h('strong', { text: f.clicks(moved) + ' of ' + f.clicks(n) + ' (' + f.pct(moved / n) + ')' }),
          ' would have gone elsewhere: the clicks of ' + period + ' replayed through the catalog in force and through the changed one. Nothing is saved yet.'),
        SL.table('Clicks by destination, before → after the change (' + period + ')', [
          { label: 'Destination', value: (d) => d.label },
          { label: 'Before', class: 'num', value: (d) => share(d.before) },
          { label: 'After', class: 'num', value: (d) => share(d.after) },
          { label: 'Change', class: 'num', value: (d) => (d.after === d.before ? '—' : (d.after > d.before ? '+' : '−') + f.clicks(Math.abs(d.after - d.before))) },
        ], link.offers.map((o) => ({ label: where(o), before: o.before, after: o.after }))
          .concat(link.fallbacks.map((b) => ({ label: where({ fallback: b.reason }), before: b.before, after: b.after })))),
        h('p', { class: 'muted', text: 'Fill rate (routed clicks / clicks): ' + f.pct(link.fill_rate.before) + ' before, ' + f.pct(link.fill_rate.after) + ' after.' }),
        SL.table('Clicks that would move', [
          { label: 'From', value: (m) => where(m.from) },
          { label: 'To', value: (m) => where(m.to) },
          { label: 'Clicks', class: 'num', value: (m) => share(m.clicks) },
        ], link.moved, 'No click would go elsewhere: this change does not alter where the recorded clicks go.'));
    }
    const notes = [];
    if (r.records.capped) notes.push('Only the newest ' + f.int(r.records.max_records) + ' records of the period were read (from ' + f.time(r.period.replayed_from, true) + ').');
    if (link && (link.not_replayable.link_not_in_force || link.not_replayable.link_not_in_change)) notes.push(f.clicks(link.not_replayable.link_not_in_force + link.not_replayable.link_not_in_change) + ' could not be replayed (the link is not in one of the two catalogs).');
    if (r.cluster) notes.push('This node\'s click log only (' + r.cluster.node + (r.cluster.node_share === null || r.cluster.node_share === undefined ? '' : ': ' + f.pct(r.cluster.node_share) + ' of the cluster\'s clicks') + ').');
    notes.push('Clicks drawn at random among several offers are drawn again, with the same draw on both sides: the shares, not each click, are what to read. Caps stand as they are now; destinations count as up.');
    out.push(h('ul', { class: 'hint preview-notes' }, notes.map((t) => h('li', { text: t }))));
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Edit a link: one batch.json of every change.

  SL.pages.linkEdit = async function (el, route) {
    const id = Number(route.args[0]);
    el.append(SL.loading());
    const [link, attached, offerList] = await Promise.all([
      linkOf(id),
      SL.api.get('smart_link_offers.json', { smart_link_id: id }),
      SL.api.get('offers.json', { row_limit: 5000 }),
    ]);
    const offers = offerList.response.offers;
    const payouts = new Map(offers.map((o) => [o.offer_id, o.affiliate_payout]));
    const offerOptions = offers.map((o) => [o.offer_id, o.offer_name + ' (' + o.offer_id + ', ' + o.offer_status + ')']);
    const original = attached.response.offers;

    const form = h('form', { class: 'form', novalidate: true });
    const main = {
      smart_link_name: SL.input('smart_link_name', link.smart_link_name),
      smart_link_status: SL.select('smart_link_status', [['active', 'Active'], ['inactive', 'Inactive']], link.smart_link_status),
      rotation: SL.select('rotation', ROTATIONS, link.rotation || 'random'),
      optimize_window_hours: SL.input('optimize_window_hours', link.optimize_window_hours === undefined ? '' : link.optimize_window_hours, { type: 'number', attrs: { min: 1, max: 720, placeholder: '168' } }),
      optimize_min_share: SL.input('optimize_min_share', link.optimize_min_share === undefined ? '' : link.optimize_min_share, { type: 'number', attrs: { min: 0, max: 0.5, step: 0.01, placeholder: '0.05' } }),
      fallback_url: SL.input('fallback_url', link.fallback_url || '', { type: 'url' }),
      postback_url: SL.input('postback_url', link.postback_url || '', { type: 'url' }),
    };
    const linkBox = h('fieldset', { class: 'card' }, h('legend', { text: 'Smart link ' + id }),
      h('div', { class: 'row-fields' },
        SL.field('Name', main.smart_link_name, { name: 'smart_link_name', wide: true }),
        SL.field('Status', main.smart_link_status, { name: 'smart_link_status', hint: 'An inactive link sends every click to its fallback URL.' }),
        SL.field('Rotation', main.rotation, { name: 'rotation', hint: 'How the qualifying offers of the first priority that has any share its clicks.' }),
        SL.field('Optimization window (hours)', main.optimize_window_hours, { name: 'optimize_window_hours', hint: 'Hours of history the estimates read (1–720); empty: 168.' }),
        SL.field('Exploration floor (share)', main.optimize_min_share, { name: 'optimize_min_share', hint: 'Least share each offer keeps (0–0.5); empty: 0.05.' }),
        SL.field('Fallback URL', main.fallback_url, { name: 'fallback_url', wide: true, hint: 'Where clicks go when no offer qualifies; empty: the server default. Absolute http(s) URL; macros such as {click_id} may follow the host.' }),
        SL.field('Partner postback URL', main.postback_url, { name: 'postback_url', wide: true, hint: 'Called server to server for each conversion of this link\'s clicks, in place of its affiliate\'s; macros such as {conversion_id}, {transaction_id}, {payout} may follow the host; empty: the affiliate\'s.' })));
    const optimizedOnly = [main.optimize_window_hours, main.optimize_min_share].map((c) => c.closest('.field'));
    const showOptimized = () => optimizedOnly.forEach((b) => { b.hidden = main.rotation.value !== 'optimized'; });
    main.rotation.addEventListener('change', showOptimized);
    showOptimized();

    // Rows of attachments: {offer_id, original (or null), box, weight, priority, conditions}.
    const rows = [];
    const list = h('ol', { class: 'attachments' });
    const addSelect = SL.select('new_offer', [['', 'Choose an offer…']].concat(offerOptions), '');
    addSelect.id = 'new-offer';
    // Says what a button did (moved, removed) to screen readers.
    const status = h('p', { class: 'visually-hidden', attrs: { 'aria-live': 'polite' } });

    async function addRow(a, isNew) {
      const row = { offer_id: a.offer_id, original: isNew ? null : a };
      row.weight = SL.input('offer_weight', a.offer_weight, { type: 'number', attrs: { min: 1, max: 100 } });
      row.priority = SL.input('priority', a.priority, { type: 'number', attrs: { step: 1 } });
      // The attachment's own affiliate payout: exact text, as the API gives it; empty: the offer's.
      const inherited = payouts.get(a.offer_id);
      row.payout = SL.input('affiliate_payout', a.affiliate_payout, { attrs: { inputmode: 'decimal', autocomplete: 'off', placeholder: inherited === undefined ? '' : 'offer\'s: ' + inherited } });
      row.conditions = await SL.conditionFields('smart_link_offer.json', a, ['smart_link_id', 'offer_id', 'offer_weight', 'priority', 'affiliate_payout']);
      const title = offerOptions.find(([oid]) => oid === a.offer_id);
      const up = SL.button('Move up', () => move(row, -1), 'small');
      const down = SL.button('Move down', () => move(row, 1), 'small');
      const remove = SL.button('Remove', () => {
        rows.splice(rows.indexOf(row), 1);
        row.box.remove();
        stale();
        status.textContent = 'Removed ' + (title ? title[1] : a.offer_id) + '.';
      }, 'small danger');
      row.box = h('li', { class: 'attachment card', dataset: { offerId: a.offer_id } },
        h('div', { class: 'attachment-head' },
          h('h3', { text: (title ? title[1] : 'Offer ' + a.offer_id) + (isNew ? ' (new)' : '') }),
          h('div', { class: 'actions' }, up, down, remove)),
        h('div', { class: 'row-fields' },
          SL.field('Weight', row.weight, { name: 'offer_weight', hint: '1–100, among the qualifying offers of its priority.' }),
          SL.field('Priority', row.priority, { name: 'priority', hint: 'Lower first.' }),
          SL.field('Affiliate payout', row.payout, { name: 'affiliate_payout', hint: 'Paid to the affiliate per conversion of this attachment\'s clicks; empty: the offer\'s' + (inherited === undefined ? '.' : ', ' + f.money(inherited) + '.') })),
        h('details', {}, h('summary', { text: 'Conditions: ' + conditionsText(a) }), row.conditions.el),
        // The row's own error slot: errors of its call that name no field.
        h('p', { class: 'field-error row-error', attrs: { 'aria-live': 'polite' } }));
      rows.push(row);
      list.append(row.box);
      return row;
    }

    function move(row, by) {
      const i = rows.indexOf(row);
      const j = i + by;
      if (j < 0 || j >= rows.length) return;
      rows.splice(i, 1);
      rows.splice(j, 0, row);
      rows.forEach((r) => list.append(r.box));
      stale();
      status.textContent = 'Moved to place ' + (j + 1) + ' of ' + rows.length + '.';
    }

    for (const a of original) await addRow(a, false);

    const addButton = SL.button('Attach', async () => {
      const oid = Number(addSelect.value);
      if (!oid) return;
      if (rows.some((r) => r.offer_id === oid)) {
        status.textContent = 'That offer is attached already.';
        return;
      }
      const row = await addRow({ offer_id: oid, offer_weight: 1, priority: 1 }, true);
      stale();
      row.weight.focus();
      addSelect.value = '';
    });
    const attachBox = h('fieldset', { class: 'card' }, h('legend', { text: 'Attachments, in order' }),
      original.length ? null : h('p', { class: 'muted', text: 'No offer is attached yet.' }),
      list,
      h('div', { class: 'inline-field' }, h('label', { for: 'new-offer', text: 'Attach an offer' }), addSelect, addButton),
      status);

    // Where the error of each call of the last batch goes: the row (or section) it came from.
    let scopes = [];
    // The calls of the preview shown; a change of the form after it calls for a new one.
    let previewed = null;
    const preview = h('section', { class: 'card preview', hidden: true, attrs: { 'aria-labelledby': 'preview-title', tabindex: '-1' } });
    const actions = SL.formActions('Preview changes', '#/links/' + id);
    const submit = actions.querySelector('button[type=submit]');
    form.append(SL.formErrors(), linkBox, attachBox, preview, actions);
    form.addEventListener('input', stale);
    form.addEventListener('change', stale);

    // The form changed after its preview: the next press previews again.
    function stale() {
      if (!previewed) return;
      previewed = null;
      submit.textContent = 'Preview changes';
      preview.prepend(h('p', { class: 'notice stale', text: 'The form changed after this preview: “Preview changes” shows what the change does now.' }));
    }

    // An error of the batch (or of its preview): beside its field, in its row, or on top.
    function showBatchErrors(err) {
      SL.showErrors(form, err, (i) => scopes[i]);
      // A call's error that names no field of its row goes to the row's own slot.
      for (const fe of err.errors) {
        const m = fe.field && fe.field.match(/^calls\[(\d+)\]$/);
        const scope = m && scopes[Number(m[1])];
        if (scope && scope !== form) scope.querySelector('.row-error').textContent = fe.message;
      }
    }

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      SL.clearErrors(form);
      let calls;
      try {
        [calls, scopes] = batchOf();
      } catch (err) {
        if (err.local) SL.showErrors(form, err, () => err.local.closest('li') || form);
        return;
      }
      if (!calls.length) {
        SL.notify('Nothing changed.');
        location.hash = '#/links/' + id;
        return;
      }
      submit.disabled = true;
      if (!previewed || !SL.same(calls, previewed)) {
        await runPreview(calls);
        submit.disabled = false;
        return;
      }
      try {
        await SL.api.post('batch.json', { calls });
        SL.notify('Saved: ' + calls.length + (calls.length === 1 ? ' change' : ' changes') + ' in one batch.');
        location.hash = '#/links/' + id;
      } catch (err) {
        submit.disabled = false;
        showBatchErrors(err);
      }
    });

    // The preview of `calls` on this link's clicks of the last day (preview.json: a read
    // that replays this node's click log; nothing is saved). A refusal is shown as the save
    // would show it; a preview that cannot be made (busy, unreachable) does not stop a save.
    async function runPreview(calls) {
      submit.textContent = 'Previewing…';
      try {
        const r = await SL.api.post('preview.json', { calls, smart_link_id: id, hours: PREVIEW_HOURS });
        SL.clear(preview).append(...previewOf(r, id, offers));
      } catch (err) {
        submit.textContent = 'Preview changes';
        if (err.status === 400 || err.status === 404 || err.status === 422 || err.status === 403) {
          preview.hidden = true;
          showBatchErrors(err);
          return;
        }
        SL.clear(preview).append(h('h2', { id: 'preview-title', text: 'Preview' }),
          h('div', { class: 'error-box' }, h('p', { text: 'The preview could not be made: ' + err.message + '. You may save without it, or press “Preview changes” again later.' })));
      }
      previewed = calls;
      submit.textContent = 'Save all changes';
      preview.hidden = false;
      preview.focus();
    }

    // The calls that turn the link as it was into the form, and each call's scope.
    function batchOf() {
      const calls = [];
      const scope = [];
      const update = { smart_link_id: id };
      const text = (c) => c.value.trim();
      if (text(main.smart_link_name) !== link.smart_link_name) update.smart_link_name = text(main.smart_link_name);
      if (main.smart_link_status.value !== link.smart_link_status) update.smart_link_status = main.smart_link_status.value;
      if (main.rotation.value !== (link.rotation || 'random')) update.rotation = main.rotation.value;
      if (text(main.fallback_url) !== (link.fallback_url || '')) update.fallback_url = text(main.fallback_url) || null;
      if (text(main.postback_url) !== (link.postback_url || '')) update.postback_url = text(main.postback_url) || null;
      for (const k of ['optimize_window_hours', 'optimize_min_share']) {
        const was = link[k] === undefined ? '' : String(link[k]);
        if (text(main[k]) !== was) update[k] = text(main[k]) === '' ? null : Number(text(main[k]));
      }
      if (Object.keys(update).length > 1) {
        calls.push({ call: 'update_smart_link.json', params: update });
        scope.push(linkBox);
      }
      const kept = rows.filter((r) => r.original).map((r) => r.offer_id);
      // The order a save without a reorder gives: the attachments kept, as they were, then
      // the new ones (attaching appends). Any other order: detach the kept ones and attach
      // every row again, in the form's order.
      const natural = original.map((a) => a.offer_id).filter((oid) => kept.includes(oid))
        .concat(rows.filter((r) => !r.original).map((r) => r.offer_id));
      const reordered = !SL.same(rows.map((r) => r.offer_id), natural);
      for (const a of original) {
        if (reordered || !kept.includes(a.offer_id)) {
          calls.push({ call: 'remove_smart_link_offer.json', params: { smart_link_id: id, offer_id: a.offer_id } });
          const row = rows.find((r) => r.offer_id === a.offer_id);
          scope.push(row ? row.box : attachBox);
        }
      }
      for (const row of rows) {
        const params = { smart_link_id: id, offer_id: row.offer_id };
        const fresh = !row.original || reordered;
        const weight = text(row.weight);
        const priority = text(row.priority);
        const was = row.original || {};
        if (fresh || weight !== String(was.offer_weight)) params.offer_weight = weight === '' ? weight : Number(weight);
        if (fresh || priority !== String(was.priority)) params.priority = priority === '' ? priority : Number(priority);
        // Exact text, never a number: the API keeps every decimal as written.
        const payout = text(row.payout);
        if (fresh ? payout !== '' : payout !== (was.affiliate_payout || '')) params.affiliate_payout = payout === '' ? null : payout;
        const values = row.conditions.read();
        for (const fld of row.conditions.fields) {
          const now = values[fld.name];
          const then = SL.conditionValue(fld.kind, was[fld.name]);
          const empty = now === null || now === false || (Array.isArray(now) && !now.length);
          if (fresh ? !empty : !SL.same(now, then)) {
            params[fld.name] = now === null ? fld.empty : now;
          }
        }
        if (Object.keys(params).length > 2) {
          calls.push({ call: 'smart_link_offer.json', params });
          scope.push(row.box);
        }
      }
      return [calls, scope];
    }

    SL.clear(el).append(
      SL.header('Edit ' + link.smart_link_name, 'First a preview of what the change does to the last day\'s clicks; then every change is saved together as one batch: all of it or nothing, audited as one record.'),
      SL.lockIfReadOnly(form));
    return null;
  };
})();

// Offers, campaigns and affiliates: lists paged by the server, and their forms (status,
// URLs, caps, payouts; campaign tracking links ready to copy). A form sends only what was
// changed, as the entity's own update call, and shows the server's errors beside the fields.
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;
  const f = SL.fmt;

  const PAGE = 50;
  const STATUSES = [['active', 'Active'], ['paused', 'Paused'], ['deleted', 'Deleted']];
  const CAPS = [['daily_clicks', 'Daily clicks'], ['daily_conversions', 'Daily conversions'], ['weekly_conversions', 'Weekly conversions'], ['monthly_conversions', 'Monthly conversions'], ['total_conversions', 'Total conversions']];

  // A paged list page: `call` answers `response[key]` and `total_rows`; rows from 1.
  function listPage(el, route, o) {
    const state = { page: Math.max(1, Number(route.query.get('page')) || 1), status: route.query.get('status') || '' };
    let disposed = false;
    const results = h('div', { attrs: { 'aria-live': 'polite' } }, SL.loading());
    const filter = o.statusField ? SL.select(o.statusField, [['', 'Any status']].concat(STATUSES), state.status) : null;
    if (filter) {
      filter.id = SL.id('status');
      filter.addEventListener('change', () => { state.page = 1; load(); });
    }
    SL.append(el, [
      SL.header(o.title, o.sub, SL.canWrite() ? [SL.linkButton(o.newLabel, o.newHref, 'primary')] : []),
      filter ? h('div', { class: 'controls' }, h('div', { class: 'inline-field' }, h('label', { for: filter.id, text: 'Status' }), filter)) : null,
      results]);
    async function load() {
      if (filter) state.status = filter.value;
      SL.setQuery({ page: state.page > 1 ? state.page : null, status: state.status });
      try {
        const params = { start_at_row: (state.page - 1) * PAGE + 1, row_limit: PAGE };
        if (filter && state.status) params[o.statusField] = state.status;
        const [r, extra] = await Promise.all([SL.api.get(o.call, params), o.extra ? o.extra() : null]);
        if (disposed) return;
        const items = r.response[o.key];
        const [count, pager] = SL.pager(state.page, PAGE, items.length, r.response.total_rows, o.noun, (p) => { state.page = p; load(); });
        SL.clear(results).append(count, SL.table(o.title, o.columns(extra), items, state.status ? 'None with this status.' : o.empty), pager || '');
      } catch (e) {
        if (!disposed) SL.failed(results, e, load);
      }
    }
    load();
    return { dispose() { disposed = true; } };
  }

  // Saves a form: `call` with `params`; on success goes to `next(answer)`.
  function submitter(form, call, params, next, scope) {
    return async function (e) {
      e.preventDefault();
      SL.clearErrors(form);
      let p;
      try {
        p = params();
      } catch (err) {
        SL.showErrors(form, err);
        return;
      }
      if (p === null) {
        SL.notify('Nothing changed.');
        SL.go(next(null));
        return;
      }
      const save = form.querySelector('button[type=submit]');
      save.disabled = true;
      try {
        const r = await SL.api.post(call, p);
        SL.notify('Saved.');
        SL.go(next(r));
      } catch (err) {
        save.disabled = false;
        SL.showErrors(form, err, scope);
      }
    };
  }

  // The changed members of `now` against `was` (text compared), or null when none; `id`
  // names the entity.
  function changes(id, now, was) {
    const out = {};
    for (const [k, v] of Object.entries(now)) if (!SL.same(v, was[k])) out[k] = v;
    return Object.keys(out).length ? Object.assign(id, out) : null;
  }

  const blankToNull = (t) => (t.trim() === '' ? null : t.trim());

  // ---------------------------------------------------------------------------------------
  // Offers.

  SL.pages.offers = (el, route) => listPage(el, route, {
    title: 'Offers', sub: 'Lifetime clicks and earnings; caps in their current window (' + SL.tz() + ').',
    call: 'offers.json', key: 'offers', noun: 'offers', statusField: 'offer_status',
    newLabel: 'New offer', newHref: '#/offers/new',
    empty: 'No offers yet.' + (SL.canWrite() ? ' Create one with “New offer”.' : ''),
    extra: async () => {
      const [stats, health] = await Promise.all([SL.api.get('offer_stats.json'), SL.health()]);
      return { stats: new Map(stats.response.offers.map((o) => [o.offer_id, o])), health };
    },
    columns: ({ stats, health }) => [
      { label: 'Id', class: 'num', value: (o) => String(o.offer_id) },
      { label: 'Name', value: (o) => h('a', { href: '#/offers/' + o.offer_id, text: o.offer_name }) },
      { label: 'Status', value: (o) => SL.badge(o.offer_status) },
      { label: 'Health', value: (o) => SL.healthBadge(health.byKey.get('offer:' + o.offer_id)) },
      { label: 'Payout (revenue)', class: 'num', value: (o) => f.money(o.payout) },
      { label: 'Affiliate payout', class: 'num', value: (o) => f.money(o.affiliate_payout) },
      { label: 'Clicks', class: 'num', value: (o) => f.int(stats.get(o.offer_id) ? stats.get(o.offer_id).clicks : 0) },
      { label: 'EPC per click', class: 'num', value: (o) => f.epc(stats.get(o.offer_id) ? stats.get(o.offer_id).epc : null) },
      { label: 'Caps', value: (o) => capsCell(stats.get(o.offer_id)) },
      { label: 'URL', value: (o) => h('code', { class: 'url', text: o.offer_url }) },
    ],
  });

  // A destination's last probe, in words.
  function healthText(d) {
    if (d.state === 'unchecked') return 'not probed (checks off, this offer\'s health_check off, or the offer not active)';
    if (!d.last_check) return 'not probed yet';
    return 'last probe ' + f.time(d.last_check, true) + ' (' + SL.tz() + '), ' + SL.latency(d.latency_ms) +
      (d.http_status === null ? '' : ', HTTP ' + d.http_status) + (d.last_error ? '; last error: ' + d.last_error : '');
  }

  function capsCell(stats) {
    if (!stats || !stats.caps || !stats.caps.length) return 'none';
    return h('span', { class: 'caps' }, stats.caps.map((c) => h('span', { class: 'cap-line' }, c.cap.replace(/_/g, ' ') + ' ', SL.capBar(c))));
  }

  SL.pages.offer = async function (el, route) {
    const isNew = route.args[0] === 'new';
    const id = isNew ? null : Number(route.args[0]);
    let o = { offer_name: '', offer_status: 'active', offer_url: '', payout: '0', affiliate_payout: '0', postback_token: null, landing_page_rotation: false, caps: {} };
    let stats = null;
    let health = null;
    if (!isNew) {
      const [r, s, hs] = await Promise.all([SL.api.get('offers.json', { offer_id: id }), SL.api.get('offer_stats.json', { offer_id: id }), SL.health()]);
      o = r.response.offers[0];
      if (!o) throw new SL.ApiError(404, [{ field: null, message: 'offer ' + id + ' does not exist' }]);
      stats = s.response.offers[0];
      health = hs.byKey.get('offer:' + id);
    }
    const c = {
      offer_name: SL.input('offer_name', o.offer_name),
      offer_status: SL.select('offer_status', STATUSES, o.offer_status),
      offer_url: SL.input('offer_url', o.offer_url, { type: 'url' }),
      payout: SL.input('payout', o.payout, { attrs: { inputmode: 'decimal' } }),
      // Exact decimal text as the API gives it, sent back as text (never a JS number).
      affiliate_payout: SL.input('affiliate_payout', o.affiliate_payout, { attrs: { inputmode: 'decimal', autocomplete: 'off' } }),
      postback_token: SL.input('postback_token', o.postback_token || '', { attrs: { autocomplete: 'off' } }),
      landing_page_rotation: h('input', { type: 'checkbox', name: 'landing_page_rotation', checked: o.landing_page_rotation }),
      health_check: h('input', { type: 'checkbox', name: 'health_check', checked: o.health_check !== false }),
      health_check_url: SL.input('health_check_url', o.health_check_url || '', { type: 'url' }),
    };
    const caps = CAPS.map(([k]) => [k, SL.input(k, o.caps && o.caps[k] !== null && o.caps[k] !== undefined ? o.caps[k] : '', { type: 'number', attrs: { min: 0, placeholder: 'no cap' } })]);
    const skip = ['offer_id', 'offer_name', 'offer_url', 'offer_status', 'postback_token', 'payout', 'affiliate_payout', 'landing_page_rotation', 'health_check', 'health_check_url'].concat(CAPS.map(([k]) => k));
    const conditions = await SL.conditionFields(isNew ? 'offer.json' : 'update_offer.json', o, skip);
    const form = h('form', { class: 'form', novalidate: true },
      SL.formErrors(),
      h('fieldset', { class: 'card' }, h('legend', { text: 'Offer' }),
        SL.field('Name', c.offer_name, { name: 'offer_name' }),
        SL.field('Status', c.offer_status, { name: 'offer_status', hint: 'Only active offers receive traffic.' }),
        SL.field('Offer URL', c.offer_url, { name: 'offer_url', wide: true, hint: 'Absolute http(s) URL; macros such as {click_id}, {affiliate_id}, {s1} may follow the host.' }),
        SL.field('Payout (revenue per conversion)', c.payout, { name: 'payout', hint: 'An exact decimal such as 2.50, counted when a postback gives no amount.' }),
        SL.field('Affiliate payout (cost per conversion)', c.affiliate_payout, { name: 'affiliate_payout', hint: 'What the network pays the affiliate per conversion, an exact decimal such as 1.20 (0 by default); a campaign or a smart link\'s attachment may pay its own instead.' }),
        SL.field('Postback token', c.postback_token, { name: 'postback_token', hint: '8 to 255 characters that this offer\'s postbacks must carry; empty: the network-wide token.' }),
        SL.field('Landing page rotation', c.landing_page_rotation, { name: 'landing_page_rotation', hint: 'Send routed clicks to the offer\'s landing pages, drawn by weight.' })),
      h('fieldset', { class: 'card' }, h('legend', { text: 'Destination health' }),
        health ? h('p', { class: 'health-line' }, 'Now ', SL.healthBadge(health), ' ' + healthText(health)) : null,
        SL.field('Health checks probe this offer', c.health_check, { name: 'health_check', hint: 'Off: never probed, listed as unchecked, always routed to. Checks run when the server\'s [health] enabled is true.' }),
        SL.field('Health check URL', c.health_check_url, { name: 'health_check_url', wide: true, hint: 'The URL probes request instead of the offer URL (a template, rendered with neutral macro values); empty: the offer URL.' })),
      h('fieldset', { class: 'card' }, h('legend', { text: 'Caps (windows in ' + SL.tz() + ')' }),
        h('div', { class: 'row-fields' }, caps.map(([k, input]) => SL.field(CAPS.find(([n]) => n === k)[1], input, { name: k })))),
      h('details', { class: 'card' }, h('summary', { text: 'Targeting conditions' }), conditions.el),
      SL.formActions(isNew ? 'Create offer' : 'Save', '#/offers'));
    form.addEventListener('submit', submitter(form, isNew ? 'offer.json' : 'update_offer.json', () => {
      const now = {
        offer_name: c.offer_name.value.trim(),
        offer_status: c.offer_status.value,
        offer_url: c.offer_url.value.trim(),
        payout: c.payout.value.trim(),
        affiliate_payout: c.affiliate_payout.value.trim(),
        postback_token: blankToNull(c.postback_token.value),
        landing_page_rotation: c.landing_page_rotation.checked,
        health_check: c.health_check.checked,
        health_check_url: blankToNull(c.health_check_url.value),
      };
      for (const [k, input] of caps) now[k] = input.value.trim() === '' ? null : Number(input.value);
      const values = conditions.read();
      for (const fld of conditions.fields) now[fld.name] = values[fld.name] === null ? fld.empty : values[fld.name];
      if (isNew) {
        for (const [k, v] of Object.entries(now)) if (v === null || v === '' || (Array.isArray(v) && !v.length) || (v === false && k !== 'health_check')) delete now[k];
        return now;
      }
      const was = Object.assign({}, o, o.caps, { postback_token: o.postback_token || null, health_check: o.health_check !== false, health_check_url: o.health_check_url || null });
      for (const fld of conditions.fields) {
        const v = SL.conditionValue(fld.kind, o[fld.name]);
        was[fld.name] = v === null ? fld.empty : v;
      }
      return changes({ offer_id: id }, now, was);
    }, (r) => '#/offers/' + (isNew ? r.offer.offer_id : id)));
    // (SL.append leaves out the parts that are null; el.append would write "null")
    SL.append(el, [SL.header(isNew ? 'New offer' : o.offer_name, isNew ? null : 'Offer ' + id), stats ? SL.tiles([
      ['Clicks (lifetime)', f.int(stats.clicks)], ['Conversions', f.int(stats.conversions)], ...SL.moneyTiles(stats),
      ['EPC per click', f.epc(stats.epc)], ['Capped clicks', f.int(stats.capped_clicks)], ['Now', stats.capped ? 'capped (' + stats.capped.replace(/_/g, ' ') + ')' : 'open'],
      ['Health', health ? health.state : 'unchecked'],
    ]) : null, stats && stats.caps.length ? h('p', {}, capsCell(stats)) : null, SL.lockIfReadOnly(form)]);
  };

  // ---------------------------------------------------------------------------------------
  // Campaigns.

  SL.pages.campaigns = (el, route) => listPage(el, route, {
    title: 'Campaigns', sub: 'One affiliate\'s link to one offer; copy a tracking link to hand it out.',
    call: 'campaigns.json', key: 'campaigns', noun: 'campaigns', statusField: 'campaign_status',
    newLabel: 'New campaign', newHref: '#/campaigns/new',
    empty: 'No campaigns yet.' + (SL.canWrite() ? ' Create one with “New campaign”.' : ''),
    // The offers' affiliate payouts, which a campaign without its own pays.
    extra: async () => {
      const r = await SL.api.get('offers.json', { row_limit: 5000 });
      return new Map(r.response.offers.map((o) => [o.offer_id, o.affiliate_payout]));
    },
    columns: (payouts) => [
      { label: 'Id', class: 'num', value: (c) => h('a', { href: '#/campaigns/' + c.campaign_id, text: String(c.campaign_id) }) },
      { label: 'Offer', value: (c) => h('a', { href: '#/offers/' + c.offer_id, text: (c.offer_name || 'Offer') + ' (' + c.offer_id + ')' }) },
      { label: 'Affiliate', value: (c) => (c.affiliate_name || 'Affiliate') + ' (' + c.affiliate_id + ')' },
      { label: 'Status', value: (c) => SL.badge(c.campaign_status) },
      { label: 'Affiliate payout', class: 'num', value: (c) => campaignPayout(c, payouts.get(c.offer_id)) },
      { label: 'Tracking link', value: (c) => SL.copyable('Tracking link of campaign ' + c.campaign_id, c.tracking_link) },
    ],
  });

  // A campaign's affiliate payout: its own, or its offer's (`inherited`).
  function campaignPayout(c, inherited) {
    if (c.affiliate_payout !== undefined && c.affiliate_payout !== null) return f.money(c.affiliate_payout) + ' (own)';
    return inherited === undefined ? 'the offer\'s' : f.money(inherited) + ' (offer\'s)';
  }

  async function options(call, key, id, name, params) {
    const r = await SL.api.get(call, params);
    const items = r.response ? r.response[key] : r[key];
    return items.map((x) => [x[id], x[name] + ' (' + x[id] + ')']);
  }

  SL.pages.campaign = async function (el, route) {
    if (route.args[0] === 'new') return newCampaign(el);
    const id = Number(route.args[0]);
    const r = await SL.api.get('campaigns.json', { campaign_id: id });
    const cp = r.response.campaigns[0];
    if (!cp) throw new SL.ApiError(404, [{ field: null, message: 'campaign ' + id + ' does not exist' }]);
    const [creatives, pages, offer, affiliateStats] = await Promise.all([
      options('creatives.json', 'creatives', 'creative_id', 'creative_name', { offer_id: cp.offer_id }),
      options('landing_pages.json', 'landing_pages', 'landing_page_id', 'landing_page_name', { offer_id: cp.offer_id }),
      SL.api.get('offers.json', { offer_id: cp.offer_id }),
      SL.api.get('affiliate_stats.json', { affiliate_id: cp.affiliate_id }),
    ]);
    const inherited = offer.response.offers[0] ? offer.response.offers[0].affiliate_payout : undefined;
    // The campaign's lifetime figures: its row among its affiliate's links (none: no click yet).
    const stats = affiliateStats.response.links.find((l) => l.kind === 'campaign' && l.id === id) || null;
    const status = SL.select('campaign_status', STATUSES, cp.campaign_status);
    const creative = SL.select('creative_id', [['', 'None']].concat(creatives), cp.creative_id || '');
    // The list answer does not name the landing page: "keep" leaves it as it is.
    const page = SL.select('landing_page_id', [['keep', 'Keep as it is'], ['', 'None (the offer\'s URL or rotation)']].concat(pages), 'keep');
    const payout = SL.input('affiliate_payout', cp.affiliate_payout, { attrs: { inputmode: 'decimal', autocomplete: 'off', placeholder: inherited === undefined ? '' : 'offer\'s: ' + inherited } });
    const postback = SL.input('postback_url', cp.postback_url || '', { type: 'url' });
    const form = h('form', { class: 'form card', novalidate: true }, SL.formErrors(),
      SL.field('Status', status, { name: 'campaign_status', hint: 'Only active campaigns record clicks.' }),
      SL.field('Creative', creative, { name: 'creative_id' }),
      SL.field('Landing page', page, { name: 'landing_page_id' }),
      SL.field('Affiliate payout', payout, { name: 'affiliate_payout', hint: 'Paid to the affiliate per conversion of this campaign, an exact decimal; empty: the offer\'s' + (inherited === undefined ? '.' : ', ' + f.money(inherited) + '.') }),
      SL.field('Partner postback URL', postback, { name: 'postback_url', wide: true, hint: 'Called server to server for each conversion of this campaign, in place of its affiliate\'s; macros such as {conversion_id}, {transaction_id}, {payout} may follow the host; empty: the affiliate\'s.' }),
      SL.formActions('Save', '#/campaigns'));
    form.addEventListener('submit', submitter(form, 'update_campaign.json', () => {
      const now = { campaign_status: status.value, creative_id: creative.value === '' ? null : Number(creative.value), affiliate_payout: blankToNull(payout.value), postback_url: blankToNull(postback.value) };
      const p = changes({ campaign_id: id }, now, { campaign_status: cp.campaign_status, creative_id: cp.creative_id || null, affiliate_payout: cp.affiliate_payout || null, postback_url: cp.postback_url || null }) || { campaign_id: id };
      if (page.value !== 'keep') p.landing_page_id = page.value === '' ? null : Number(page.value);
      return Object.keys(p).length > 1 ? p : null;
    }, () => '#/campaigns/' + id));
    SL.append(el, [SL.header('Campaign ' + id, (cp.offer_name || '') + ' · ' + (cp.affiliate_name || '') + ' · created ' + f.time(cp.date_created) + ' (' + SL.tz() + ')'),
      SL.copyable('Tracking link', cp.tracking_link),
      SL.tiles([
        ['Clicks (lifetime)', f.int(stats ? stats.clicks : 0)], ['Conversions', f.int(stats ? stats.conversions : 0)],
        ...SL.moneyTiles(stats || { revenue: '0', cost: '0', profit: '0', margin: null }),
        ['EPC per click', f.epc(stats ? stats.epc : null)],
        ['Affiliate payout', campaignPayout(cp, inherited)],
      ]),
      SL.lockIfReadOnly(form)]);
    return null;
  };

  async function newCampaign(el) {
    const [offers, affiliates] = await Promise.all([
      options('offers.json', 'offers', 'offer_id', 'offer_name', { offer_status: 'active', row_limit: 5000 }),
      options('affiliates.json', 'affiliates', 'affiliate_id', 'affiliate_name', { row_limit: 5000 }),
    ]);
    const c = {
      offer_id: SL.select('offer_id', [['', 'Choose…']].concat(offers), ''),
      affiliate_id: SL.select('affiliate_id', [['', 'Choose…']].concat(affiliates), ''),
      display_link_type_id: SL.select('display_link_type_id', [['1', 'Standard (/rd/r.php?sid=…)'], ['2', 'Encoded (/rd/token)'], ['3', 'Vanity domain']], '1'),
      sub_affiliate: SL.input('sub_affiliate', ''),
      coupon_code: SL.input('coupon_code', ''),
    };
    const form = h('form', { class: 'form card', novalidate: true }, SL.formErrors(),
      SL.field('Offer (active)', c.offer_id, { name: 'offer_id' }),
      SL.field('Affiliate', c.affiliate_id, { name: 'affiliate_id' }),
      SL.field('Tracking link type', c.display_link_type_id, { name: 'display_link_type_id' }),
      SL.field('Sub affiliate', c.sub_affiliate, { name: 'sub_affiliate', hint: 'The s1 of clicks whose link carries none.' }),
      SL.field('Coupon code', c.coupon_code, { name: 'coupon_code' }),
      SL.formActions('Create campaign', '#/campaigns'));
    form.addEventListener('submit', submitter(form, 'campaign.json', () => {
      const p = {};
      for (const [k, input] of Object.entries(c)) if (input.value.trim() !== '') p[k] = input.value.trim();
      return p;
    }, (r) => '#/campaigns/' + r.campaign.campaign_id));
    el.append(SL.header('New campaign'), SL.lockIfReadOnly(form));
  }

  // ---------------------------------------------------------------------------------------
  // Affiliates.

  SL.pages.affiliates = (el, route) => listPage(el, route, {
    title: 'Affiliates', sub: 'The partners who send traffic.',
    call: 'affiliates.json', key: 'affiliates', noun: 'affiliates',
    newLabel: 'New affiliate', newHref: '#/affiliates/new',
    empty: 'No affiliates yet.' + (SL.canWrite() ? ' Create one with “New affiliate”.' : ''),
    columns: () => [
      { label: 'Id', class: 'num', value: (a) => String(a.affiliate_id) },
      { label: 'Name', value: (a) => h('a', { href: '#/affiliates/' + a.affiliate_id, text: a.affiliate_name }) },
      { label: 'Postback URL', value: (a) => (a.postback_url ? h('code', { class: 'url', text: a.postback_url }) : 'none') },
      { label: 'Deliveries', value: (a) => (a.postback_url ? h('a', { href: '#/postbacks?affiliate=' + a.affiliate_id, text: 'Partner postbacks' }) : '—') },
    ],
  });

  SL.pages.affiliate = async function (el, route) {
    const isNew = route.args[0] === 'new';
    const id = isNew ? null : Number(route.args[0]);
    let a = { affiliate_name: '' };
    if (!isNew) {
      a = (await SL.api.get('affiliates.json', { affiliate_id: id })).response.affiliates[0];
      if (!a) throw new SL.ApiError(404, [{ field: null, message: 'affiliate ' + id + ' does not exist' }]);
    }
    const name = SL.input('affiliate_name', a.affiliate_name);
    const postback = SL.input('postback_url', a.postback_url || '', { type: 'url' });
    const form = h('form', { class: 'form card', novalidate: true }, SL.formErrors(),
      SL.field('Name', name, { name: 'affiliate_name' }),
      SL.field('Postback URL', postback, { name: 'postback_url', wide: true, hint: 'Called server to server for each conversion of this affiliate\'s clicks (a campaign\'s or smart link\'s own replaces it); macros such as {conversion_id}, {click_id}, {amount}, {payout} may follow the host; empty: none.' }),
      SL.formActions(isNew ? 'Create affiliate' : 'Save', '#/affiliates'));
    form.addEventListener('submit', submitter(form, isNew ? 'affiliate.json' : 'update_affiliate.json', () => {
      const now = { affiliate_name: name.value.trim(), postback_url: blankToNull(postback.value) };
      if (isNew) {
        if (now.postback_url === null) delete now.postback_url;
        return now;
      }
      return changes({ affiliate_id: id }, now, { affiliate_name: a.affiliate_name, postback_url: a.postback_url || null });
    }, (r) => '#/affiliates/' + (isNew ? r.affiliate.affiliate_id : id)));
    el.append(SL.header(isNew ? 'New affiliate' : a.affiliate_name, isNew ? null : 'Affiliate ' + id, isNew ? null : [SL.linkButton('Partner postbacks', '#/postbacks?affiliate=' + id)]));
    const statsBox = isNew ? null : h('section', { class: 'section affiliate-stats', attrs: { 'aria-labelledby': 'affiliate-stats-title' } },
      h('h2', { id: 'affiliate-stats-title', text: 'Statistics (lifetime)' }), SL.loading());
    SL.append(el, [statsBox, SL.lockIfReadOnly(form)]);
    if (isNew) return;
    const [links, campaigns, stats] = await Promise.all([
      SL.api.get('smart_links.json', { affiliate_id: id, row_limit: 100 }),
      SL.api.get('campaigns.json', { affiliate_id: id, row_limit: 100 }),
      SL.api.get('affiliate_stats.json', { affiliate_id: id }),
    ]);
    statsBox.replaceChildren(statsBox.firstChild, ...affiliateStats(stats.response, links.response.smart_links, campaigns.response.campaigns));
    el.append(
      SL.table('Smart links of this affiliate (first 100)', [
        { label: 'Id', class: 'num', value: (l) => String(l.smart_link_id) },
        { label: 'Name', value: (l) => h('a', { href: '#/links/' + l.smart_link_id, text: l.smart_link_name }) },
        { label: 'Status', value: (l) => SL.badge(l.smart_link_status) },
        { label: 'Tracking URL', value: (l) => SL.copyable('Tracking URL of smart link ' + l.smart_link_id, l.tracking_url) },
      ], links.response.smart_links, 'This affiliate has no smart link.'),
      SL.table('Campaigns of this affiliate (first 100)', [
        { label: 'Id', class: 'num', value: (c) => h('a', { href: '#/campaigns/' + c.campaign_id, text: String(c.campaign_id) }) },
        { label: 'Offer', value: (c) => (c.offer_name || 'Offer') + ' (' + c.offer_id + ')' },
        { label: 'Status', value: (c) => SL.badge(c.campaign_status) },
        { label: 'Tracking link', value: (c) => SL.copyable('Tracking link of campaign ' + c.campaign_id, c.tracking_link) },
      ], campaigns.response.campaigns, 'This affiliate has no campaign.'));
  };

  // An affiliate's lifetime figures (affiliate_stats.json `s`): its totals, and each smart
  // link and campaign of it that had clicks or conversions, named from the lists shown.
  function affiliateStats(s, links, campaigns) {
    const names = new Map(links.map((l) => ['smart_link:' + l.smart_link_id, l.smart_link_name])
      .concat(campaigns.map((c) => ['campaign:' + c.campaign_id, (c.offer_name || 'Offer ' + c.offer_id)])));
    const linkOf = (l) => (l.kind === 'campaign'
      ? h('a', { href: '#/campaigns/' + l.id, text: 'Campaign ' + l.id + (names.has('campaign:' + l.id) ? ' · ' + names.get('campaign:' + l.id) : '') })
      : h('a', { href: '#/links/' + l.id, text: (names.get('smart_link:' + l.id) || 'Smart link') + ' (' + l.id + ')' }));
    return [
      SL.tiles([
        ['Clicks', f.int(s.clicks)], ['Conversions', f.int(s.conversions)], ...SL.moneyTiles(s), ['EPC per click', f.epc(s.epc)],
      ]),
      SL.table('By smart link and campaign (those with clicks or conversions)', [
        { label: 'Link', value: linkOf },
        { label: 'Clicks', class: 'num', value: (l) => f.int(l.clicks) },
        { label: 'Conversions', class: 'num', value: (l) => f.int(l.conversions) },
        ...SL.moneyColumns((l) => l),
        { label: 'EPC per click', class: 'num', value: (l) => f.epc(l.epc) },
      ], s.links, 'No click or conversion yet on this affiliate\'s smart links and campaigns.'),
    ];
  }
})();

// Partner postbacks (partner_postbacks.json): this node's deliveries of conversions to the
// affiliates' postback URLs, newest first, filtered by affiliate, status and period and
// paged by the server; a failed delivery asked for again one at a time or every failed one
// of an affiliate (retry_partner_postback.json). Refreshes itself as the overview does, so
// that a retried delivery shows its end.
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;
  const f = SL.fmt;

  const PAGE = 50;
  const STATUSES = [['', 'Any status'], ['failed', 'Failed'], ['pending', 'Pending'], ['delivered', 'Delivered']];

  // A wall-clock time of a datetime-local field ("2026-12-01T10:00"), read in the network's
  // time zone, as RFC 3339 UTC; '' stays ''.
  function zoned(value) {
    const m = value.match(/^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/);
    if (!m) return value;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    const parts = new Intl.DateTimeFormat('en-US', { timeZone: SL.tz(), hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    // The zone's offset at `ms`: its wall clock there, less `ms`.
    const offset = (ms) => {
      const p = Object.fromEntries(parts.formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)]));
      return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - ms;
    };
    const first = wall - offset(wall);
    return new Date(wall - offset(first)).toISOString().replace('.000', '');
  }

  SL.pages.postbacks = async function (el, route) {
    const q = route.query;
    const state = { page: Math.max(1, Number(q.get('page')) || 1) };
    let every = Number(q.get('refresh') || 5);
    let disposed = false;
    const affiliates = (await SL.api.get('affiliates.json', { row_limit: 5000 })).response.affiliates;
    const names = new Map(affiliates.map((a) => [a.affiliate_id, a.affiliate_name]));
    const c = {
      affiliate: SL.select('affiliate_id', [['', 'Any affiliate']].concat(affiliates.map((a) => [a.affiliate_id, a.affiliate_name + ' (' + a.affiliate_id + ')'])), q.get('affiliate') || ''),
      status: SL.select('status', STATUSES, q.get('status') || ''),
      from: SL.input('from', q.get('from') || '', { type: 'datetime-local' }),
      to: SL.input('to', q.get('to') || '', { type: 'datetime-local' }),
    };
    const refresher = SL.refresher(load, every, (e) => { every = e; remember(); });
    const message = h('p', { class: 'notice', hidden: true, attrs: { role: 'status' } });
    const retryAll = h('button', { type: 'button', class: 'danger', on: { click: () => retry({ affiliate_id: Number(c.affiliate.value) }) } });
    const results = h('div', { attrs: { 'aria-live': 'polite' } }, SL.loading());
    const form = h('form', { class: 'card form filters', novalidate: true }, SL.formErrors(),
      h('div', { class: 'row-fields' },
        SL.field('Affiliate', c.affiliate, { name: 'affiliate_id' }),
        SL.field('Status', c.status, { name: 'status' }),
        SL.field('From (' + SL.tz() + ')', c.from, { name: 'from', hint: 'Empty: 24 hours before To.' }),
        SL.field('To (' + SL.tz() + ')', c.to, { name: 'to', hint: 'Empty: now.' })),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary', text: 'Filter' }),
        SL.button('Clear', () => { Object.values(c).forEach((i) => { i.value = ''; }); state.page = 1; refresher.run(); })));
    form.addEventListener('submit', (e) => { e.preventDefault(); state.page = 1; refresher.run(); });
    el.append(
      SL.header('Partner postbacks', 'This node\'s deliveries of conversions to the affiliates\' postback URLs, newest first; times in ' + SL.tz() + '.'),
      form,
      h('div', { class: 'controls' }, retryAll, refresher.control, refresher.updated),
      message, results);

    function remember() {
      SL.setQuery({ affiliate: c.affiliate.value, status: c.status.value, from: c.from.value, to: c.to.value, page: state.page > 1 ? state.page : null, refresh: every === 5 ? null : every });
    }

    function drawRetryAll() {
      const a = Number(c.affiliate.value);
      retryAll.textContent = a ? 'Retry every failed delivery of ' + names.get(a) : 'Retry every failed delivery of an affiliate';
      retryAll.disabled = !SL.canWrite() || !a;
      retryAll.title = !SL.canWrite() ? 'Your key is read-only.' : a ? '' : 'Choose the affiliate first.';
    }

    async function load() {
      remember();
      drawRetryAll();
      SL.clearErrors(form);
      const params = { start_at_row: (state.page - 1) * PAGE + 1, row_limit: PAGE, affiliate_id: c.affiliate.value, status: c.status.value };
      if (c.from.value) params.from = zoned(c.from.value);
      if (c.to.value) params.to = zoned(c.to.value);
      try {
        const r = await SL.api.get('partner_postbacks.json', params);
        if (disposed) return true;
        draw(r.response.partner_postbacks, r.response.total_rows, params);
        return true;
      } catch (e) {
        if (disposed) return false;
        SL.clear(results);
        if (e.status === 400) SL.showErrors(form, e);
        else SL.failed(results, e, refresher.run);
        return false;
      }
    }

    function draw(rows, total, params) {
      const filtered = params.affiliate_id || params.status || params.from || params.to;
      const [count, pager] = SL.pager(state.page, PAGE, rows.length, total, 'deliveries', (p) => { state.page = p; refresher.run(); });
      SL.clear(results).append(count, SL.table('Deliveries, newest first (times in ' + SL.tz() + ')', [
        { label: 'Time', value: (d) => f.time(d.time, true) },
        { label: 'Conversion', value: (d) => h('code', { text: d.conversion_id }) },
        { label: 'Affiliate', value: (d) => h('a', { href: '#/affiliates/' + d.affiliate_id, text: (names.get(d.affiliate_id) || 'Affiliate') + ' (' + d.affiliate_id + ')' }) },
        { label: 'Status', value: (d) => SL.badge(d.status) },
        { label: 'Retry', value: (d) => (d.status === 'failed'
          ? h('button', { type: 'button', class: 'small', text: 'Retry', disabled: !SL.canWrite(), title: SL.canWrite() ? 'Ask for this delivery again, now' : 'Your key is read-only.', dataset: { conversionId: d.conversion_id }, on: { click: () => retry({ conversion_id: d.conversion_id }) } })
          : '—') },
        { label: 'Attempts', class: 'num', value: (d) => f.int(d.attempts) },
        { label: 'Last answer', class: 'num', value: (d) => (d.last_status === null ? '—' : 'HTTP ' + d.last_status) },
        { label: 'Last error', value: (d) => d.last_error || '—' },
        { label: 'URL', value: (d) => h('code', { class: 'url', text: d.url }) },
      ], rows, filtered ? 'No delivery matches these filters.' : 'No partner postback in the last 24 hours on this node. Deliveries start when an affiliate (or a campaign or smart link) has a postback URL and its clicks convert.'), pager || '');
    }

    // Asks for failed deliveries again (one, or every one of an affiliate), then shows them.
    async function retry(params) {
      message.hidden = true;
      try {
        const r = await SL.api.post('retry_partner_postback.json', params);
        message.textContent = 'Asked again: ' + f.int(r.requeued) + (r.requeued === 1 ? ' delivery is' : ' deliveries are') + ' pending, due now.';
      } catch (e) {
        message.textContent = e.status === 404 ? 'No failed delivery to retry: ' + e.message + '.' : 'Not retried: ' + e.message;
      }
      message.hidden = false;
      if (!disposed) refresher.run();
    }

    refresher.run();
    return { dispose() { disposed = true; refresher.dispose(); } };
  };
})();

// The audit log (audit.json): every change of the catalog and every write refused to a
// read-only key, newest first, filtered by call, key and time, paged by the server. The
// log is the answering node's (docs/console.md#pages).
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;
  const f = SL.fmt;

  const PAGE = 50;

  SL.pages.audit = function (el, route) {
    const q = route.query;
    const state = { page: Math.max(1, Number(q.get('page')) || 1) };
    const c = {
      call: SL.input('call', q.get('call') || '', { attrs: { placeholder: 'batch.json, update_offer.json, push, SIGHUP…', list: 'audit-calls' } }),
      key: SL.input('key', q.get('key') || '', { attrs: { placeholder: '12 hex digits' } }),
      since: SL.input('since', q.get('since') || '', { attrs: { placeholder: '2026-12-01T00:00:00Z' } }),
      until: SL.input('until', q.get('until') || '', { attrs: { placeholder: '2026-12-02T00:00:00Z' } }),
    };
    let disposed = false;
    const results = h('div', { attrs: { 'aria-live': 'polite' } }, SL.loading());
    const calls = h('datalist', { id: 'audit-calls' }, ['batch.json', 'smart_link_offer.json', 'update_smart_link.json', 'update_offer.json', 'update_campaign.json', 'push', 'SIGHUP'].map((v) => h('option', { value: v })));
    const form = h('form', { class: 'card form filters', novalidate: true }, SL.formErrors(),
      h('div', { class: 'row-fields' },
        SL.field('Call', c.call, { name: 'call' }),
        SL.field('Key fingerprint', c.key, { name: 'key' }),
        SL.field('Since (RFC 3339)', c.since, { name: 'since' }),
        SL.field('Until (RFC 3339)', c.until, { name: 'until' })),
      calls,
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary', text: 'Filter' }),
        SL.button('Clear', () => { Object.values(c).forEach((i) => { i.value = ''; }); state.page = 1; load(); })));
    form.addEventListener('submit', (e) => { e.preventDefault(); state.page = 1; load(); });
    el.append(SL.header('Audit log', 'Every change of the catalog, and every write refused to a read-only key, newest first. This node\'s log (' + SL.session.node + '); times in ' + SL.tz() + '.'), form, results);

    async function load() {
      const params = {};
      for (const [k, input] of Object.entries(c)) if (input.value.trim()) params[k] = input.value.trim();
      SL.setQuery(Object.assign({ page: state.page > 1 ? state.page : null }, params));
      SL.clearErrors(form);
      try {
        const r = await SL.api.get('audit.json', Object.assign({ start_at_row: (state.page - 1) * PAGE + 1, row_limit: PAGE }, params));
        if (disposed) return;
        const rows = r.response.records;
        const [count, pager] = SL.pager(state.page, PAGE, rows.length, r.response.total_rows, 'records', (p) => { state.page = p; load(); });
        SL.clear(results).append(count, SL.table('Audit records', [
          { label: 'Time', value: (x) => f.time(x.time, true) },
          { label: 'Call', value: (x) => h('code', { text: x.call }) },
          { label: 'Key', value: (x) => (x.key ? x.key + (x.key === SL.session.key ? ' (you)' : '') : '—') },
          { label: 'Node', value: (x) => x.node },
          { label: 'Generation', class: 'num', value: (x) => f.int(x.generation) },
          { label: 'Outcome', value: (x) => (x.refused ? SL.badge('refused') : SL.badge('applied')) },
          { label: 'Parameters', value: (x) => h('details', {}, h('summary', { text: summary(x) }), h('pre', { text: JSON.stringify(x.params, null, 2) })) },
        ], rows, Object.keys(params).length ? 'No record matches these filters.' : 'No change has been made on this node yet.'), pager || '');
      } catch (e) {
        if (disposed) return;
        SL.clear(results);
        if (e.status === 400) SL.showErrors(form, e);
        else SL.failed(results, e, load);
      }
    }

    // One line of what a record changed.
    function summary(x) {
      if (x.refused) return 'refused: ' + x.refused.replace(/_/g, ' ');
      const p = x.params || {};
      if (Array.isArray(p.calls)) return p.calls.length + (p.calls.length === 1 ? ' call: ' : ' calls: ') + [...new Set(p.calls.map((c) => c.call))].join(', ');
      const keys = Object.keys(p);
      return keys.length ? keys.slice(0, 4).join(', ') + (keys.length > 4 ? '…' : '') : 'details';
    }

    load();
    return { dispose() { disposed = true; } };
  };
})();

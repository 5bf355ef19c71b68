// Explain a click: a form of the click's attributes → smart_link_route.json → the decision
// and each attachment's verdict, as tables. Records and counts nothing.
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;
  const f = SL.fmt;

  // User agents to pick from (any other can be typed).
  const AGENTS = [
    ['', 'Type one below, or pick…'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1', 'iPhone, Safari'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Android phone, Chrome'],
    ['Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1', 'iPad, Safari'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Windows, Chrome'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15', 'Mac, Safari'],
    ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 'Googlebot'],
  ];

  const RESULTS = {
    chosen: 'Chosen',
    qualified: 'Qualified, not drawn',
    skipped: 'Skipped',
    not_reached: 'Not reached (a lower priority decided)',
    not_evaluated: 'Not evaluated',
  };

  SL.pages.explain = async function (el, route) {
    const offers = new Map((await SL.api.get('offers.json', { row_limit: 5000 })).response.offers.map((o) => [o.offer_id, o.offer_name]));
    const c = {
      smart_link_id: SL.input('smart_link_id', route.query.get('link') || '', { type: 'number', attrs: { min: 1, required: true } }),
      ip: SL.input('ip', '', { attrs: { placeholder: 'e.g. 203.0.113.7' } }),
      user_agent: SL.input('user_agent', AGENTS[1][0]),
      accept_language: SL.input('accept_language', '', { attrs: { placeholder: 'e.g. de-DE,de;q=0.9' } }),
      referer: SL.input('referer', '', { attrs: { placeholder: 'e.g. https://news.example/' } }),
      at: SL.input('at', '', { attrs: { placeholder: 'e.g. 2026-12-01T18:30:00Z' } }),
    };
    const subs = ['s1', 's2', 's3', 's4', 's5'].map((s) => [s, SL.input(s, '')]);
    const preset = SL.select('preset', AGENTS, '');
    preset.addEventListener('change', () => { if (preset.value) c.user_agent.value = preset.value; });
    const out = h('div', { class: 'explanation', attrs: { 'aria-live': 'polite' } });
    const form = h('form', { class: 'card form', novalidate: true },
      SL.formErrors(),
      h('div', { class: 'row-fields' },
        SL.field('Smart link id', c.smart_link_id, { name: 'smart_link_id' }),
        SL.field('Client IP address', c.ip, { name: 'ip', hint: 'Default 127.0.0.1. Its country comes from the server\'s GeoIP database.' })),
      SL.field('Device preset', preset, {}),
      SL.field('User agent', c.user_agent, { name: 'user_agent', wide: true }),
      h('div', { class: 'row-fields' },
        SL.field('Accept-Language', c.accept_language, { name: 'accept_language' }),
        SL.field('Referrer', c.referer, { name: 'referer' }),
        SL.field('Time of the click', c.at, { name: 'at', hint: 'RFC 3339; default now. For schedules and cap windows.' })),
      h('details', {}, h('summary', { text: 'Sub ids (s1–s5)' }), h('div', { class: 'row-fields' }, subs.map(([s, input]) => SL.field(s, input, { name: s })))),
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary', text: 'Explain' })));

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      SL.clearErrors(form);
      const params = {};
      for (const [k, input] of Object.entries(c).concat(subs)) if (input.value.trim()) params[k] = input.value.trim();
      SL.setQuery({ link: params.smart_link_id });
      SL.clear(out).append(SL.loading('Explaining…'));
      try {
        const r = await SL.api.get('smart_link_route.json', params);
        draw(r.response);
      } catch (err) {
        SL.clear(out);
        SL.showErrors(form, err);
      }
    });

    function draw(r) {
      const d = r.decision;
      const cl = r.client;
      SL.clear(out).append(
        h('section', { class: 'card decision ' + d.outcome },
          h('h2', { text: d.outcome === 'routed' ? 'Routed to ' + (offers.get(d.offer_id) || 'offer') + ' (' + d.offer_id + ', priority ' + d.priority + ')' : 'Sent to the fallback: ' + String(d.fallback_reason).replace(/_/g, ' ') }),
          h('p', {}, 'Destination: ', h('code', { class: 'url', text: d.url || '—' })),
          d.landing_page_id ? h('p', { text: 'Landing page ' + d.landing_page_id }) : null,
          h('p', { class: 'muted', text: 'Link ' + r.smart_link_id + ' (' + r.smart_link_status + ', rotation ' + r.rotation + ').' })),
        SL.table('The click as the server sees it', [
          { label: 'Attribute', value: (row) => row[0] },
          { label: 'Value', value: (row) => (row[1] === null || row[1] === undefined ? 'unknown' : String(row[1])) },
        ], [
          ['IP address', cl.ip], ['Country', cl.country], ['Region', cl.region], ['Device', cl.device],
          ['Operating system', cl.os], ['Browser', cl.browser], ['Language', cl.language],
          ['Referrer host', cl.referrer_host], ['Anonymous network', cl.anonymous], ['ASN', cl.asn],
          ['Time', cl.time ? f.time(cl.time, true) + ' (' + SL.tz() + ')' : null],
        ]),
        SL.table('Each attachment, in evaluation order', [
          { label: 'Priority', class: 'num', value: (a) => String(a.priority) },
          { label: 'Offer', value: (a) => h('a', { href: '#/offers/' + a.offer_id, text: (offers.get(a.offer_id) || 'Offer') + ' (' + a.offer_id + ')' }) },
          { label: 'Weight', class: 'num', value: (a) => String(a.offer_weight) + (a.optimized ? ' (in force ' + f.pct(a.optimized.share) + ')' : '') },
          { label: 'Result', value: (a) => h('span', { class: 'verdict verdict-' + a.result, text: RESULTS[a.result] || a.result }) },
          { label: 'Reason', value: (a) => (a.reason ? a.reason.replace(/_/g, ' ') + (a.cap ? ' (' + a.cap.replace(/_/g, ' ') + ')' : '') : (a.would_qualify === true ? 'would qualify' : '')) },
          { label: 'Chance', class: 'num', value: (a) => (a.probability === undefined ? '' : f.pct(a.probability)) },
          { label: 'Countries', value: (a) => (a.countries.length ? a.countries.join(', ') : 'any') },
          { label: 'Devices', value: (a) => (a.devices.length >= 5 ? 'any' : a.devices.join(', ')) },
        ], r.attachments, 'This link has no attachments: every click goes to its fallback.'));
      out.querySelector('h2').setAttribute('tabindex', '-1');
      out.querySelector('h2').focus();
    }

    el.append(SL.header('Explain a click', 'What the server would decide for a click, and why, without recording anything.'), form, out);
    if (c.smart_link_id.value) form.requestSubmit();
  };
})();

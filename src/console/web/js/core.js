// smartlink console: the core every page uses. DOM building (text only, never markup),
// number and time formats, the API client (session cookie + anti-CSRF header), the router
// (hash routes: #/links/301), the page frame (navigation, sign-in state) and small widgets.
// No framework, no build step: each file is a classic script that adds to `window.SL`.
(function () {
  'use strict';

  const SL = (window.SL = {
    pages: {},
    // What each chart draws, by chart name: {x: [unix seconds], series: {label: [values]}}.
    // The browser tests read the figures from here and compare them with the API's.
    charts: {},
    session: null,
  });

  // ---------------------------------------------------------------------------------------
  // DOM. Every text goes in as a text node (or a property that takes text), so that a name
  // or URL from the catalog can never become markup.

  // h('a', {href: '#/', class: 'x', text: 'y', on: {click: f}, attrs: {...}}, child, ...)
  SL.h = function (tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'on') for (const [ev, f] of Object.entries(value)) el.addEventListener(ev, f);
      else if (key === 'attrs') for (const [a, v] of Object.entries(value)) { if (v !== undefined && v !== null && v !== false) el.setAttribute(a, v === true ? '' : v); }
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'for') el.htmlFor = value;
      else el[key] = value;
    }
    SL.append(el, children);
    return el;
  };

  SL.append = function (el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  };

  SL.clear = function (el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  };

  let uid = 0;
  SL.id = function (prefix) {
    uid += 1;
    return (prefix || 'f') + '-' + uid;
  };

  // ---------------------------------------------------------------------------------------
  // Formats. Numbers carry their unit; money is the network's (no currency is configured:
  // amounts are shown as the API gives them, exact decimals).

  const ints = new Intl.NumberFormat('en-US');
  SL.fmt = {
    int: (n) => (n === null || n === undefined ? '—' : ints.format(n)),
    clicks: (n) => (n === null || n === undefined ? '—' : ints.format(n) + (n === 1 ? ' click' : ' clicks')),
    pct: (r, digits) => (r === null || r === undefined ? '—' : (r * 100).toFixed(digits === undefined ? 1 : digits) + ' %'),
    // Margin: profit / revenue, null (shown "—") while there is no revenue.
    margin: (r) => SL.fmt.pct(r),
    money: (m) => (m === null || m === undefined ? '—' : SL.fmt.decimal(m)),
    // EPC: earnings per routed click (the unit is in the column's or tile's label).
    epc: (m) => (m === null || m === undefined ? '—' : SL.fmt.decimal(Number(m).toFixed(4), 4)),
    // An exact decimal string ("1234.5", "0.000001") with thousands separators.
    decimal: function (text, minFraction) {
      const [whole, frac] = String(text).split('.');
      let f = (frac || '').replace(/0+$/, '');
      const min = minFraction === undefined ? 2 : minFraction;
      while (f.length < min) f += '0';
      return ints.format(Number(whole)) + (f ? '.' + f : '');
    },
    // An RFC 3339 time in the network's time zone.
    time: function (iso, withSeconds) {
      if (!iso) return '—';
      const d = new Date(iso);
      if (isNaN(d)) return iso;
      return new Intl.DateTimeFormat('en-GB', {
        timeZone: SL.tz(),
        year: 'numeric', month: 'short', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: withSeconds ? '2-digit' : undefined,
        hourCycle: 'h23',
      }).format(d);
    },
  };

  // The network's time zone (tracking.timezone), in which every time is shown.
  SL.tz = () => (SL.session && SL.session.timezone) || 'UTC';

  // ---------------------------------------------------------------------------------------
  // The API. Every call goes to /api/2/ with the session cookie (set by sign_in.json, sent by
  // the browser, never readable by scripts); writes carry the session's anti-CSRF token.

  class ApiError extends Error {
    constructor(status, errors) {
      super((errors && errors.length && errors.map((e) => e.message).join('; ')) || 'HTTP ' + status);
      this.status = status;
      this.errors = errors || [];
    }
  }
  SL.ApiError = ApiError;

  async function call(method, name, params) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    let url = '/api/2/' + name;
    if (method === 'GET') {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') q.append(k, v);
      const qs = q.toString();
      if (qs) url += '?' + qs;
    } else {
      init.headers['Content-Type'] = 'application/json';
      if (SL.session) init.headers['X-CSRF-Token'] = SL.session.csrf_token;
      init.body = JSON.stringify(params || {});
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, [{ field: null, message: 'the server cannot be reached (' + e.message + ')' }]);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const err = new ApiError(response.status, body && body.errors);
      if (response.status === 401 && name !== 'sign_in.json') SL.signedOut('Your session has ended. Sign in again.');
      throw err;
    }
    return body;
  }

  SL.api = {
    get: (name, params) => call('GET', name, params),
    post: (name, params) => call('POST', name, params),
  };

  // ---------------------------------------------------------------------------------------
  // Router: #/path/parts?query. Each page is SL.pages[name](main, route) and may return
  // {dispose()} (timers, charts), called before the next page renders.

  const ROUTES = [
    [/^\/$/, 'overview'],
    [/^\/links$/, 'links'],
    [/^\/links\/new$/, 'linkNew'],
    [/^\/links\/(\d+)$/, 'link'],
    [/^\/links\/(\d+)\/edit$/, 'linkEdit'],
    [/^\/explain$/, 'explain'],
    [/^\/offers$/, 'offers'],
    [/^\/offers\/(new|\d+)$/, 'offer'],
    [/^\/campaigns$/, 'campaigns'],
    [/^\/campaigns\/(new|\d+)$/, 'campaign'],
    [/^\/affiliates$/, 'affiliates'],
    [/^\/affiliates\/(new|\d+)$/, 'affiliate'],
    [/^\/audit$/, 'audit'],
    [/^\/health$/, 'health'],
    [/^\/postbacks$/, 'postbacks'],
  ];

  // The navigation, in order. Pages that come with later API calls add themselves here.
  SL.nav = [
    { href: '#/', label: 'Overview', match: /^\/$/ },
    { href: '#/links', label: 'Smart links', match: /^\/links/ },
    { href: '#/explain', label: 'Explain a click', match: /^\/explain/ },
    { href: '#/offers', label: 'Offers', match: /^\/offers/ },
    { href: '#/campaigns', label: 'Campaigns', match: /^\/campaigns/ },
    { href: '#/affiliates', label: 'Affiliates', match: /^\/affiliates/ },
    { href: '#/health', label: 'Destination health', match: /^\/health/ },
    { href: '#/postbacks', label: 'Partner postbacks', match: /^\/postbacks/ },
    { href: '#/audit', label: 'Audit log', match: /^\/audit/ },
  ];

  SL.route = function () {
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, query] = hash.split('?');
    for (const [re, name] of ROUTES) {
      const m = path.match(re);
      if (m) return { name, path, args: m.slice(1), query: new URLSearchParams(query || '') };
    }
    return { name: 'notFound', path, args: [], query: new URLSearchParams(query || '') };
  };

  // Replaces the query of the current route without rendering again (filters, paging).
  SL.setQuery = function (params) {
    const route = SL.route();
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const qs = q.toString();
    history.replaceState(null, '', '#' + route.path + (qs ? '?' + qs : ''));
  };

  let current = null;
  let notice = null;
  // Counts renders, so that a page whose data came after the next page started is dropped.
  let renders = 0;

  // Goes to `hash`, rendering again when it is the page shown (a form saved in place).
  SL.go = function (hash) {
    if (location.hash === hash) SL.render();
    else location.hash = hash;
  };

  // Shows `text` at the top of the next page rendered (after a save).
  SL.notify = function (text) {
    notice = text;
  };

  SL.render = async function () {
    if (current && current.dispose) current.dispose();
    current = null;
    const mine = ++renders;
    const main = document.getElementById('main');
    SL.clear(main);
    if (!SL.session) return SL.signIn(main);
    const route = SL.route();
    SL.drawNav(route);
    closeMenu();
    if (notice) {
      main.append(SL.h('p', { class: 'notice', attrs: { role: 'status' }, text: notice }));
      notice = null;
    }
    const page = SL.pages[route.name] || SL.pages.notFound;
    const container = SL.h('div', { class: 'page' });
    main.append(container);
    document.getElementById('app').setAttribute('aria-busy', 'false');
    try {
      const rendered = (await page(container, route)) || null;
      if (mine === renders) current = rendered;
      else if (rendered && rendered.dispose) rendered.dispose();
    } catch (e) {
      if (mine === renders) SL.failed(container, e);
    }
  };

  // Whether the page that started render `n` is still the one shown.
  SL.rendering = () => renders;

  // ---------------------------------------------------------------------------------------
  // Sign-in and the frame.

  SL.start = async function () {
    window.addEventListener('hashchange', () => SL.render());
    // The skip link moves focus without touching the hash (the hash is the route).
    document.querySelector('.skip').addEventListener('click', (ev) => {
      ev.preventDefault();
      document.getElementById('main').focus();
    });
    document.getElementById('sign-out').addEventListener('click', signOut);
    const menu = document.getElementById('menu-button');
    menu.hidden = false;
    menu.addEventListener('click', () => {
      const open = menu.getAttribute('aria-expanded') !== 'true';
      menu.setAttribute('aria-expanded', String(open));
      document.getElementById('nav').classList.toggle('open', open);
    });
    try {
      const s = await SL.api.get('session.json');
      SL.session = s.response.signed_in ? s.response : null;
    } catch (e) {
      SL.session = null;
    }
    frame();
    SL.render();
  };

  function closeMenu() {
    document.getElementById('menu-button').setAttribute('aria-expanded', 'false');
    document.getElementById('nav').classList.remove('open');
  }

  // The header and navigation for the signed-in state (or their absence).
  function frame() {
    const who = document.getElementById('who');
    const nav = document.getElementById('nav');
    SL.clear(who);
    document.getElementById('sign-out').hidden = !SL.session;
    nav.hidden = !SL.session;
    document.getElementById('menu-button').hidden = !SL.session;
    if (!SL.session) return;
    const s = SL.session;
    who.append(
      SL.h('span', { class: 'role ' + (s.role === 'admin' ? 'role-admin' : 'role-read'), text: s.role === 'admin' ? 'Administrator' : 'Read only' }),
      ' ',
      SL.h('span', { class: 'muted', text: 'key ' + s.key + ' · node ' + s.node + ' · times in ' + s.timezone })
    );
  }

  SL.drawNav = function (route) {
    const nav = document.getElementById('nav');
    SL.clear(nav);
    const list = SL.h('ul');
    for (const item of SL.nav) {
      const here = item.match.test(route.path);
      list.append(SL.h('li', {}, SL.h('a', { href: item.href, text: item.label, attrs: { 'aria-current': here ? 'page' : null } })));
    }
    nav.append(list);
  };

  SL.signedOut = function (message) {
    if (!SL.session) return;
    SL.session = null;
    frame();
    SL.signInMessage = message;
    SL.render();
  };

  async function signOut() {
    try {
      await SL.api.post('sign_out.json', {});
    } catch (e) {
      // Signed out or not, this browser forgets the session.
    }
    SL.session = null;
    SL.signInMessage = 'You are signed out.';
    frame();
    SL.render();
  }

  // The sign-in page: the API key goes in a POST body, never in a URL.
  SL.signIn = function (main) {
    document.getElementById('app').setAttribute('aria-busy', 'false');
    const input = SL.h('input', { id: 'api-key', type: 'password', name: 'api_key', autocomplete: 'current-password', required: true, attrs: { 'aria-describedby': 'api-key-error' } });
    const error = SL.h('p', { id: 'api-key-error', class: 'field-error', attrs: { role: 'alert' } });
    const button = SL.h('button', { type: 'submit', class: 'primary', text: 'Sign in' });
    const form = SL.h('form', { class: 'card sign-in', method: 'post', action: '/console/', attrs: { 'aria-labelledby': 'sign-in-title' } },
      SL.h('h1', { id: 'sign-in-title', text: 'Sign in to the smartlink console' }),
      SL.signInMessage ? SL.h('p', { class: 'notice', attrs: { role: 'status' }, text: SL.signInMessage }) : null,
      SL.h('p', { class: 'muted', text: 'Use an API key of this server: an administrator key (api.keys) may change the network, a read-only key (api.read_keys) may look at everything. The key is exchanged for a session cookie and never kept by the page.' }),
      SL.h('label', { for: 'api-key', text: 'API key' }),
      input,
      error,
      button
    );
    SL.signInMessage = null;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      input.removeAttribute('aria-invalid');
      button.disabled = true;
      try {
        const s = await SL.api.post('sign_in.json', { api_key: input.value });
        SL.session = s.response;
        input.value = '';
        frame();
        if (!location.hash.startsWith('#/')) history.replaceState(null, '', '#/');
        SL.render();
      } catch (e) {
        error.textContent = e.status === 401 ? 'That is not an API key of this server.' : e.message;
        input.setAttribute('aria-invalid', 'true');
        button.disabled = false;
        input.focus();
      }
    });
    main.append(form);
    input.focus();
  };

  // ---------------------------------------------------------------------------------------
  // Page helpers.

  SL.canWrite = () => SL.session && SL.session.role === 'admin';

  // The page's heading, with a line under it (the time zone, say) and actions on the right.
  SL.header = function (title, sub, actions) {
    document.title = title + ' · smartlink console';
    return SL.h('div', { class: 'page-header' },
      SL.h('div', {}, SL.h('h1', { text: title }), sub ? SL.h('p', { class: 'muted', text: sub }) : null),
      actions && actions.length ? SL.h('div', { class: 'actions' }, actions) : null
    );
  };

  SL.button = function (label, onClick, cls) {
    return SL.h('button', { type: 'button', class: cls || '', text: label, on: { click: onClick } });
  };

  SL.linkButton = function (label, href, cls) {
    return SL.h('a', { class: 'button ' + (cls || ''), href, text: label });
  };

  SL.loading = (text) => SL.h('p', { class: 'loading', attrs: { role: 'status' }, text: text || 'Loading…' });

  // An error in place of the page (or a part of it), with a way to try again.
  SL.failed = function (el, e, retry) {
    SL.clear(el);
    const box = SL.h('div', { class: 'error-box', attrs: { role: 'alert' } },
      SL.h('p', { text: 'Could not load this: ' + (e && e.message ? e.message : String(e)) }));
    if (retry) box.append(SL.button('Try again', retry));
    el.append(box);
  };

  SL.empty = (text) => SL.h('p', { class: 'empty', text });

  // A table: columns [{label, value: row => text|Node, class}], rows; `empty` when none.
  SL.table = function (caption, columns, rows, empty) {
    if (!rows.length && empty) return SL.empty(empty);
    const head = SL.h('tr', {}, columns.map((c) => SL.h('th', { scope: 'col', class: c.class || '', text: c.label })));
    const body = rows.map((r) => SL.h('tr', {}, columns.map((c) => {
      const v = c.value(r);
      return SL.h('td', { class: c.class || '' }, v instanceof Node ? v : String(v === null || v === undefined ? '—' : v));
    })));
    return SL.h('div', { class: 'table-wrap', attrs: { tabindex: '0', role: 'region', 'aria-label': caption } },
      SL.h('table', {}, SL.h('caption', { text: caption }), SL.h('thead', {}, head), SL.h('tbody', {}, body)));
  };

  // A figure with its label (the overview's totals).
  SL.tiles = function (items) {
    return SL.h('dl', { class: 'tiles' }, items.map(([label, value, title]) =>
      SL.h('div', { class: 'tile', title: title || null }, SL.h('dt', { text: label }), SL.h('dd', { text: value }))));
  };

  // Revenue, cost (what the network paid affiliates), profit and margin of a statistic of
  // the API, as tiles; and as table columns, `of(row)` giving the row's statistic (or null).
  SL.moneyTiles = (s) => [
    ['Revenue', SL.fmt.money(s.revenue)],
    ['Cost', SL.fmt.money(s.cost), 'Paid to affiliates: each conversion\'s affiliate payout'],
    ['Profit', SL.fmt.money(s.profit), 'Revenue − cost'],
    ['Margin', SL.fmt.margin(s.margin), 'Profit / revenue; — without revenue'],
  ];
  SL.moneyColumns = (of) => [
    { label: 'Revenue', class: 'num', value: (r) => (of(r) ? SL.fmt.money(of(r).revenue) : '—') },
    { label: 'Cost', class: 'num', value: (r) => (of(r) ? SL.fmt.money(of(r).cost) : '—') },
    { label: 'Profit', class: 'num', value: (r) => (of(r) ? SL.fmt.money(of(r).profit) : '—') },
    { label: 'Margin', class: 'num', value: (r) => (of(r) ? SL.fmt.margin(of(r).margin) : '—') },
  ];

  SL.badge = function (status) {
    return SL.h('span', { class: 'badge badge-' + status, text: status });
  };

  // A URL to copy: read-only text and a Copy button.
  SL.copyable = function (label, text) {
    const id = SL.id('copy');
    const input = SL.h('input', { id, type: 'text', readOnly: true, value: text, class: 'copy-text' });
    const status = SL.h('span', { class: 'copy-status', attrs: { 'aria-live': 'polite' } });
    const button = SL.button('Copy', async () => {
      input.select();
      let done = false;
      try {
        await navigator.clipboard.writeText(text);
        done = true;
      } catch (e) {
        done = document.execCommand && document.execCommand('copy');
      }
      status.textContent = done ? 'Copied' : 'Selected: press Ctrl+C';
    }, 'small');
    return SL.h('div', { class: 'copyable' }, SL.h('label', { for: id, class: 'visually-hidden', text: label }), input, button, status);
  };

  // The period switch of pages with charts: 24 hours or 7 days, ending with this hour.
  SL.PERIODS = { '24h': { hours: 24, label: 'Last 24 hours' }, '7d': { hours: 168, label: 'Last 7 days' } };
  SL.range = function (period) {
    const hours = SL.PERIODS[period].hours;
    const end = new Date();
    end.setUTCMinutes(0, 0, 0);
    end.setUTCHours(end.getUTCHours() + 1);
    const start = new Date(end.getTime() - hours * 3600 * 1000);
    return { from: start.toISOString().replace('.000', ''), to: end.toISOString().replace('.000', '') };
  };
  SL.periodSwitch = function (period, onChange) {
    const name = SL.id('period');
    const group = SL.h('fieldset', { class: 'segmented' }, SL.h('legend', { class: 'visually-hidden', text: 'Period' }));
    for (const [key, p] of Object.entries(SL.PERIODS)) {
      const id = SL.id('p');
      const radio = SL.h('input', { type: 'radio', id, name, value: key, checked: key === period, on: { change: () => onChange(key) } });
      group.append(radio, SL.h('label', { for: id, text: p.label }));
    }
    return group;
  };

  // A page that refreshes itself (the overview, destination health, partner postbacks):
  // `load()` fetches and draws in place (resolving to false when it failed and showed why);
  // the "Refresh" select (every second to every minute, or off) and the "Updated" line go
  // in the page's controls. One timer, set again after each load ends, so loads never pile
  // up; `dispose()` stops it. `onEvery(seconds)` keeps the choice in the page's query.
  const REFRESH = [['1', 'every second'], ['5', 'every 5 s'], ['15', 'every 15 s'], ['60', 'every minute'], ['0', 'off']];
  SL.refresher = function (load, every, onEvery) {
    let timer = null;
    let disposed = false;
    const select = SL.select('refresh', REFRESH, String(every));
    select.id = 'refresh-every';
    const updated = SL.h('span', { class: 'muted updated', attrs: { 'aria-live': 'off' } });
    select.addEventListener('change', () => {
      every = Number(select.value);
      onEvery(every);
      schedule();
    });
    function schedule() {
      clearTimeout(timer);
      if (!disposed && every > 0) timer = setTimeout(run, every * 1000);
    }
    async function run() {
      clearTimeout(timer);
      const ok = await load();
      if (disposed) return;
      if (ok !== false) updated.textContent = 'Updated ' + SL.fmt.time(new Date().toISOString(), true) + ' (' + SL.tz() + ')';
      schedule();
    }
    return {
      control: SL.h('div', { class: 'inline-field' }, SL.h('label', { for: select.id, text: 'Refresh' }), select),
      updated,
      run,
      dispose() {
        disposed = true;
        clearTimeout(timer);
      },
    };
  };

  // "Showing 51–100 of 10,000" and Previous / Next for a list paged by the server.
  SL.pager = function (page, size, shown, total, noun, go) {
    const first = (page - 1) * size;
    const pages = Math.max(1, Math.ceil(total / size));
    return [
      SL.h('p', { class: 'muted', text: total ? 'Showing ' + SL.fmt.int(first + 1) + '–' + SL.fmt.int(first + shown) + ' of ' + SL.fmt.int(total) + ' ' + (total === 1 ? noun.replace(/s$/, '') : noun) : '' }),
      total > size ? SL.h('nav', { class: 'pager', attrs: { 'aria-label': 'Pages' } },
        SL.h('button', { type: 'button', text: '← Previous', disabled: page <= 1, on: { click: () => go(page - 1) } }),
        SL.h('span', { text: 'Page ' + page + ' of ' + SL.fmt.int(pages) }),
        SL.h('button', { type: 'button', text: 'Next →', disabled: page >= pages, on: { click: () => go(page + 1) } })) : null,
    ];
  };

  SL.pages.notFound = function (el) {
    el.append(SL.header('Not found'), SL.empty('There is no such page in the console.'), SL.linkButton('Go to the overview', '#/'));
  };
})();

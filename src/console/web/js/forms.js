// Forms: labelled fields, the server's errors shown beside the field they name, and the
// targeting-condition fields of a call, made from the API's own OpenAPI document (so a
// condition added to the server shows up here without a change to the console).
(function () {
  'use strict';
  const SL = window.SL;
  const h = SL.h;

  // A labelled field: its control gets `data-field` (the API parameter it sets), a hint
  // and an error slot, both tied to it for screen readers.
  SL.field = function (label, control, opts) {
    const o = opts || {};
    const id = control.id || SL.id('f');
    control.id = id;
    if (o.name) control.dataset.field = o.name;
    const hintId = id + '-hint';
    const errorId = id + '-error';
    control.setAttribute('aria-describedby', (o.hint ? hintId + ' ' : '') + errorId);
    const isCheck = control.type === 'checkbox';
    return h('div', { class: 'field' + (isCheck ? ' field-check' : '') + (o.wide ? ' field-wide' : ''), dataset: { fieldBox: o.name || '' } },
      isCheck ? null : h('label', { for: id, text: label }),
      control,
      isCheck ? h('label', { for: id, text: label }) : null,
      o.hint ? h('p', { id: hintId, class: 'hint', text: o.hint }) : null,
      h('p', { id: errorId, class: 'field-error', attrs: { 'aria-live': 'polite' } }));
  };

  SL.input = function (name, value, attrs) {
    const a = attrs || {};
    return h('input', { type: a.type || 'text', name, value: value === null || value === undefined ? '' : String(value), attrs: a.attrs || {}, dataset: { field: name } });
  };

  SL.select = function (name, options, value) {
    return h('select', { name, dataset: { field: name } }, options.map(([v, label]) =>
      h('option', { value: v, text: label, selected: String(v) === String(value) })));
  };

  // Clears every error shown in `root`.
  SL.clearErrors = function (root) {
    for (const el of root.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const el of root.querySelectorAll('.field-error')) el.textContent = '';
    for (const el of root.querySelectorAll('.form-errors')) SL.clear(el).hidden = true;
  };

  // Shows an API failure: each error beside the control of its field (`field`, or for a
  // batch `calls[i].field`, looked up in scopeOf(i)), the rest in the form's error box.
  // Returns the number of errors shown beside a field.
  SL.showErrors = function (form, error, scopeOf) {
    SL.clearErrors(form);
    const box = form.querySelector('.form-errors');
    let placed = 0;
    let first = null;
    const rest = [];
    for (const e of error.errors.length ? error.errors : [{ field: null, message: error.message }]) {
      let scope = form;
      let field = e.field;
      const m = field && field.match(/^calls\[(\d+)\](?:\.(.+))?$/);
      if (m) {
        scope = (scopeOf && scopeOf(Number(m[1]))) || form;
        field = m[2] || null;
      }
      const control = field && scope.querySelector('[data-field="' + CSS.escape(field) + '"]');
      if (control) {
        control.setAttribute('aria-invalid', 'true');
        const slot = document.getElementById(control.id + '-error');
        if (slot) slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + e.message;
        first = first || control;
        placed += 1;
      } else {
        rest.push((e.field ? e.field + ': ' : '') + e.message);
      }
    }
    if (box) {
      box.hidden = false;
      const what = error.status === 403 ? 'Not allowed; nothing was saved.' : 'The server refused the change; nothing was saved.';
      box.append(h('p', { text: what + (placed ? ' ' + (placed === 1 ? 'The problem is shown beside its field.' : 'The problems are shown beside their fields.') : '') }));
      // (append(null) would show the word "null")
      if (rest.length) box.append(h('ul', {}, rest.map((t) => h('li', { text: t }))));
    }
    if (rest.length || !first) {
      if (box) box.focus();
    } else {
      // A field inside closed details is opened to be seen.
      let d = first.closest('details');
      while (d) {
        d.open = true;
        d = d.parentElement.closest('details');
      }
      first.focus();
    }
    return placed;
  };

  // The box for errors that name no field, at the top of a form.
  SL.formErrors = () => h('div', { class: 'form-errors error-box', hidden: true, attrs: { role: 'alert', tabindex: '-1' } });

  // A form for a read-only key: every control disabled, and why (the API would refuse the
  // save anyway: this only says so before anyone types).
  SL.lockIfReadOnly = function (form) {
    if (SL.canWrite()) return form;
    for (const c of form.querySelectorAll('input, select, textarea, button')) c.disabled = true;
    form.prepend(h('p', { class: 'notice', text: 'Your key is read-only: this is what is saved now; you can look, not change.' }));
    return form;
  };

  // A form's buttons; read-only keys see them disabled, with the reason.
  SL.formActions = function (saveLabel, cancelHref) {
    const save = h('button', { type: 'submit', class: 'primary', text: saveLabel, disabled: !SL.canWrite() });
    return h('div', { class: 'form-actions' }, save,
      cancelHref ? SL.linkButton('Cancel', cancelHref) : null,
      SL.canWrite() ? null : h('p', { class: 'muted', text: 'Read-only key: nothing to save.' }));
  };

  // ---------------------------------------------------------------------------------------
  // Targeting conditions, from the OpenAPI document's request body of a call.

  let openapi = null;
  async function properties(call) {
    if (!openapi) openapi = fetch('/api/2/openapi.json', { credentials: 'same-origin' }).then((r) => r.json());
    const doc = await openapi;
    const op = doc.paths['/api/2/' + call].post;
    return op.requestBody.content['application/json'].schema.properties;
  }

  // How a condition's value is edited: a comma-separated list, JSON text, or a checkbox.
  function kind(schema) {
    if (schema.type === 'boolean') return 'flag';
    if (schema.type === 'object') return 'json';
    if (schema.type === 'array' && schema.items && schema.items.type === 'object') return 'json';
    if (schema.type === 'array') return 'list';
    return null;
  }

  const human = (name) => name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, ' ');

  // The condition fields of `call` (every property whose name the catalog's condition
  // lists use), each with its value from `current` (a list item of the API). Returns
  // {el, read()}: read() gives {name: value} of every condition, or throws a field error.
  SL.conditionFields = async function (call, current, skip) {
    const props = await properties(call);
    const fields = [];
    for (const [name, schema] of Object.entries(props)) {
      if ((skip || []).includes(name) || name === 'api_key') continue;
      const k = kind(schema);
      if (!k) continue;
      const value = current ? current[name] : undefined;
      let control;
      if (k === 'flag') {
        control = h('input', { type: 'checkbox', name, checked: value === true });
      } else if (k === 'json') {
        control = h('textarea', { name, rows: 2, value: value === undefined || value === null || (Array.isArray(value) && !value.length) || (typeof value === 'object' && !Object.keys(value).length) ? '' : JSON.stringify(value) });
      } else {
        control = h('input', { type: 'text', name, value: Array.isArray(value) ? value.join(', ') : '' });
      }
      control.dataset.field = name;
      // What clears a JSON condition: an empty object or list.
      const empty = schema.type === 'object' ? {} : [];
      fields.push({ name, kind: k, control, empty, box: SL.field(human(name), control, { name, hint: schema.description, wide: k === 'json' }) });
    }
    return {
      fields,
      el: h('div', { class: 'conditions' }, fields.map((f) => f.box)),
      // {name: value} of every condition field; `null` value for an empty JSON field.
      read() {
        const out = {};
        for (const f of fields) {
          if (f.kind === 'flag') out[f.name] = f.control.checked;
          else if (f.kind === 'list') out[f.name] = f.control.value.split(',').map((v) => v.trim()).filter(Boolean);
          else {
            const text = f.control.value.trim();
            if (!text) out[f.name] = null;
            else {
              try {
                out[f.name] = JSON.parse(text);
              } catch (e) {
                const err = new SL.ApiError(400, [{ field: f.name, message: 'is not JSON: ' + e.message }]);
                err.local = f.control;
                throw err;
              }
            }
          }
        }
        return out;
      },
    };
  };

  // The value of a condition as the API lists it, made comparable with what read() gives.
  SL.conditionValue = function (kindOf, value) {
    if (kindOf === 'flag') return value === true;
    if (kindOf === 'list') return Array.isArray(value) ? value.map(String) : [];
    if (value === undefined || value === null) return null;
    if (Array.isArray(value) && !value.length) return null;
    if (typeof value === 'object' && !Array.isArray(value) && !Object.keys(value).length) return null;
    return value;
  };

  SL.same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
})();

// mcpproxy dashboard: a small single-page app without a framework or a
// build step. It reads /api/v1 with the API key the person gave it and
// follows /events to stay live.
//
// Safety rule: every string that comes from the API goes into the page as
// text (textContent, text nodes, attribute values set one by one), never as
// HTML. Tool descriptions, server errors and log lines are written by
// upstream servers and may be hostile.
//
// Speed rule: the servers table must stay quick with 1,000 servers. Rows are
// built once and kept by server name; an event marks a name changed, and
// once per animation frame only the changed rows are touched.
'use strict';

(function () {
  const KEY_STORE = 'mcpproxy.apikey';
  // Relative to /ui/, so the app also works behind a path prefix.
  const API = '../api/v1';
  const EVENTS = '../events';
  const STATES = ['ready', 'connecting', 'needs_auth', 'error', 'quarantined', 'disabled', 'stopping'];
  const ACTIVITY_STATUSES = ['ok', 'tool_error', 'error', 'blocked', 'timeout', 'cancelled'];
  const ACTIVITY_KINDS = ['tool_call', 'management'];
  const ATTENTION_MAX = 20; // servers listed under "Needs attention"

  // --- DOM helpers ------------------------------------------------------------

  const $ = (sel, root) => (root || document).querySelector(sel);

  // el builds an element. Props: class, text, dataset, on<event>, DOM
  // properties (hidden, disabled, checked, value, open) and attributes;
  // children are nodes or strings (added as text nodes).
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k === 'dataset') Object.assign(e.dataset, v);
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else if (k === 'hidden' || k === 'disabled' || k === 'checked' || k === 'value' || k === 'open' || k === 'selected') e[k] = v;
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    add(e, children);
    return e;
  }

  function add(parent, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      parent.append(c instanceof Node ? c : String(c));
    }
  }

  // fill replaces parent's children with the given ones, skipping null and
  // false (replaceChildren would show them as text).
  function fill(parent, ...children) {
    parent.replaceChildren();
    add(parent, children);
  }

  // setText changes a node's text only when it differs, so unchanged cells
  // cost no layout.
  function setText(node, text) {
    text = text == null ? '' : String(text);
    if (node.textContent !== text) node.textContent = text;
  }

  const enc = encodeURIComponent;
  const serverHref = (name) => '#/servers/' + enc(name);

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  function fmtSecs(s) {
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  }

  // retryText is the countdown to a server's next connection attempt.
  function retryText(s, now) {
    if (!s || s.state !== 'error' || !s.next_retry_at) return '';
    const left = Math.ceil((Date.parse(s.next_retry_at) - now) / 1000);
    return left > 0 ? 'in ' + fmtSecs(left) : 'now';
  }

  function pretty(v) {
    if (v === undefined || v === null) return '';
    try {
      return JSON.stringify(v, null, 2);
    } catch (e) {
      return String(v);
    }
  }

  function stateBadge(state, installing) {
    return el('span', { class: 'badge state-' + state, text: stateLabel(state, installing) });
  }

  // stateLabel is a state as shown: a package runner's first start, which
  // may be downloading the server, reads "installing".
  function stateLabel(state, installing) {
    return state === 'connecting' && installing ? 'installing' : state;
  }

  function toast(msg, kind) {
    const t = el('div', { class: 'toast ' + (kind || 'info'), role: kind === 'error' ? 'alert' : 'status', text: msg });
    $('#toasts').append(t);
    setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
  }

  function showError(err) {
    if (err && err.status === 401) return; // the key page is already up
    toast(err && err.message ? err.message : String(err), 'error');
  }

  function confirmDialog(text, okLabel) {
    const d = $('#confirm');
    $('#confirm-text').textContent = text;
    $('#confirm-ok').textContent = okLabel || 'OK';
    d.returnValue = '';
    return new Promise((resolve) => {
      d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
      d.showModal();
    });
  }

  // --- the API key ------------------------------------------------------------

  let memoryKey = ''; // when localStorage is unavailable

  function loadKey() {
    try {
      return localStorage.getItem(KEY_STORE) || memoryKey;
    } catch (e) {
      return memoryKey;
    }
  }

  function saveKey(k) {
    memoryKey = k;
    try {
      if (k) localStorage.setItem(KEY_STORE, k);
      else localStorage.removeItem(KEY_STORE);
    } catch (e) {
      // storage disabled: keep the key for this page only
    }
  }

  // takeKeyFromURL moves ?apikey= from the address bar into storage, so
  // the key is not left in the history or shown on screen.
  function takeKeyFromURL() {
    const u = new URL(location.href);
    if (!u.searchParams.has('apikey')) return;
    const k = u.searchParams.get('apikey');
    if (k) saveKey(k);
    u.searchParams.delete('apikey');
    history.replaceState(null, '', u.pathname + u.search + u.hash);
  }

  // --- REST -------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const opts = { method, headers: { 'X-API-Key': loadKey() }, cache: 'no-store' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API + path, opts);
    } catch (e) {
      throw new ApiError(0, 'unavailable', 'cannot reach mcpproxy (' + method + ' ' + path + ')');
    }
    let env = null;
    try {
      env = await res.json();
    } catch (e) {
      // not JSON: reported below by status
    }
    if (res.status === 401) {
      saveKey('');
      showLogin('The API key was refused. Enter the current one.');
      throw new ApiError(401, 'unauthorized', 'unauthorized');
    }
    if (!env || typeof env !== 'object') throw new ApiError(res.status, 'internal', method + ' ' + path + ': HTTP ' + res.status);
    if (!env.success) {
      const e = env.error || {};
      throw new ApiError(res.status, e.code || 'internal', e.message || 'HTTP ' + res.status);
    }
    return env.data;
  }

  // --- live state -------------------------------------------------------------

  // servers holds every server's summary (no tool list), kept current by
  // /events. Pages read it; they never poll.
  const servers = new Map();
  let status = null; // last GET /status or snapshot status
  let page = null; // the mounted page
  let es = null; // the EventSource
  let backoff = 0;
  let reconnectTimer = 0;

  // changed collects server names touched since the last frame; flush hands
  // them to the page once per animation frame.
  const changed = new Set();
  let frameQueued = false;

  function touch(name) {
    changed.add(name);
    if (!frameQueued) {
      frameQueued = true;
      requestAnimationFrame(flush);
    }
  }

  function flush() {
    frameQueued = false;
    if (changed.size === 0) return;
    const names = new Set(changed);
    changed.clear();
    updateNavBadge();
    if (page && page.onServers) {
      try {
        page.onServers(names);
      } catch (e) {
        showError(e);
      }
    }
  }

  // seq counts events per server, so a refresh answer that is older than
  // an event received meanwhile is not applied over it.
  const seq = new Map();
  const bump = (name) => seq.set(name, (seq.get(name) || 0) + 1);

  function putServer(s) {
    if (!s || !s.name) return;
    delete s.tools;
    servers.set(s.name, s);
    touch(s.name);
  }

  function dropServer(name) {
    if (servers.delete(name)) touch(name);
  }

  // A tools change event carries only the count; pending_tools and the
  // like come from a refresh, batched: a few servers one by one, many with
  // one list request.
  const stale = new Set();
  let staleTimer = 0;

  function refreshLater(name) {
    stale.add(name);
    if (!staleTimer) staleTimer = setTimeout(refreshStale, 250);
  }

  async function refreshStale() {
    staleTimer = 0;
    const names = [...stale];
    stale.clear();
    const before = new Map(names.map((n) => [n, seq.get(n) || 0]));
    const apply = (s) => {
      if ((seq.get(s.name) || 0) !== before.get(s.name)) refreshLater(s.name);
      else putServer(s);
    };
    try {
      if (names.length > 8) {
        const list = await api('GET', '/servers');
        const seen = new Set();
        for (const s of list) {
          seen.add(s.name);
          if (before.has(s.name)) apply(s);
        }
        for (const n of names) if (!seen.has(n)) dropServer(n);
      } else {
        await Promise.all(names.map(async (n) => {
          try {
            apply(await api('GET', '/servers/' + enc(n)));
          } catch (e) {
            if (e.status === 404) dropServer(n);
            else throw e;
          }
        }));
      }
    } catch (e) {
      if (e.status !== 401 && e.status !== 0) showError(e);
    }
  }

  function applySnapshot(data) {
    const fresh = new Map();
    for (const s of data.servers || []) {
      delete s.tools;
      fresh.set(s.name, s);
    }
    for (const n of servers.keys()) if (!fresh.has(n)) touch(n);
    servers.clear();
    for (const [n, s] of fresh) {
      servers.set(n, s);
      touch(n);
    }
    status = data.status || status;
    if (page && page.onStatus) page.onStatus();
  }

  function parseEvent(msg) {
    try {
      return JSON.parse(msg.data);
    } catch (e) {
      return null;
    }
  }

  function setLive(on, text) {
    const live = $('#live');
    live.classList.toggle('on', on);
    live.textContent = text || (on ? 'live' : 'offline');
  }

  function connect() {
    clearTimeout(reconnectTimer);
    if (es) es.close();
    const src = new EventSource(EVENTS + '?apikey=' + enc(loadKey()));
    es = src;
    const on = (type, fn) => src.addEventListener(type, (msg) => {
      if (es !== src) return;
      const ev = parseEvent(msg);
      if (!ev) return;
      try {
        fn(ev);
      } catch (e) {
        showError(e);
      }
    });
    on('snapshot', (ev) => {
      backoff = 0;
      setLive(true);
      applySnapshot(ev.data || {});
    });
    on('server.state_changed', (ev) => {
      bump(ev.server);
      if (ev.data && ev.data.removed) dropServer(ev.server);
      else putServer(ev.data);
    });
    on('server.tools_changed', (ev) => {
      const s = servers.get(ev.server);
      if (s && ev.data) {
        servers.set(ev.server, Object.assign({}, s, { tool_count: ev.data.tool_count }));
        touch(ev.server);
      }
      refreshLater(ev.server);
      if (page && page.onTools) page.onTools(ev.server);
    });
    on('tool.changed', (ev) => {
      refreshLater(ev.server);
      if (page && page.onTools) page.onTools(ev.server);
    });
    on('server.auth', (ev) => {
      const d = ev.data || {};
      const msg = {
        login_succeeded: 'logged in',
        logged_out: 'logged out',
        login_failed: 'login failed: ' + (d.message || ''),
        refresh_failed: 'token refresh failed, log in again: ' + (d.message || ''),
      }[d.event] || d.message || d.event;
      toast(ev.server + ': ' + msg, d.event === 'login_failed' || d.event === 'refresh_failed' ? 'error' : 'info');
    });
    on('activity', (ev) => {
      if (page && page.onActivity && ev.data) page.onActivity(ev.data);
    });
    on('config.reloaded', () => {
      if (status) status.config_error = '';
      if (page && page.onStatus) page.onStatus();
    });
    on('config.warnings', (ev) => {
      if (status) status.config_warnings = (ev.data && ev.data.warnings) || [];
      if (page && page.onStatus) page.onStatus();
    });
    on('config.error', (ev) => {
      const msg = (ev.data && ev.data.error) || 'invalid config';
      if (status) status.config_error = msg;
      toast('Config edit rejected: ' + msg, 'error');
      if (page && page.onStatus) page.onStatus();
    });
    on('dropped', () => {
      // The daemon dropped us for being slow; the stream ends next and the
      // reconnect brings a fresh snapshot.
    });
    src.onerror = () => {
      if (es !== src) return;
      src.close();
      es = null;
      setLive(false, 'reconnecting…');
      scheduleReconnect();
    };
  }

  // scheduleReconnect retries the stream with exponential backoff (1 s
  // doubling to 30 s, with jitter), checking the key first so that a
  // changed key shows the key page instead of retrying forever.
  function scheduleReconnect() {
    const delay = Math.min(30000, 1000 * Math.pow(2, backoff)) * (0.5 + Math.random() / 2);
    backoff = Math.min(backoff + 1, 10);
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(async () => {
      try {
        status = await api('GET', '/status');
      } catch (e) {
        if (e.status === 401) return;
        scheduleReconnect();
        return;
      }
      connect();
    }, delay);
  }

  function disconnect() {
    clearTimeout(reconnectTimer);
    if (es) es.close();
    es = null;
    setLive(false);
  }

  // counts derives the dashboard numbers from the live server list, the
  // same way GET /api/v1/status does.
  function counts() {
    const c = { total: 0, tools: 0, quarantined: 0, pending: 0, enabled: 0 };
    for (const st of STATES) c[st] = 0;
    for (const s of servers.values()) {
      c.total++;
      // A quarantined server's state is 'quarantined' too: count it once,
      // by the flag, which also covers a quarantined server that is disabled.
      if (s.state !== 'quarantined') c[s.state] = (c[s.state] || 0) + 1;
      if (s.state !== 'disabled') c.enabled++;
      if (s.quarantined) c.quarantined++;
      else c.pending += s.pending_tools || 0;
      if (s.state === 'ready' && !s.quarantined) c.tools += (s.tool_count || 0) - (s.pending_tools || 0) - (s.blocked_tools || 0);
    }
    return c;
  }

  function attentionReason(s) {
    if (s.quarantined) return 'quarantined: its tools wait for approval';
    if (s.state === 'error') return 'error: ' + (s.last_error || 'unknown');
    if (s.state === 'needs_auth') return 'needs an OAuth login: use Log in';
    if (s.pending_tools > 0) return s.pending_tools + (s.pending_tools === 1 ? ' tool waits' : ' tools wait') + ' for approval';
    return '';
  }

  function updateNavBadge() {
    const c = counts();
    const b = $('#nav-waiting');
    const n = c.quarantined + c.pending;
    b.hidden = n === 0;
    setText(b, n);
  }

  // --- actions ----------------------------------------------------------------

  // login starts a server's OAuth login and opens the authorization URL in
  // a new tab. The tab is opened before the request, while the click still
  // counts as the user's, so that a popup blocker lets it through.
  async function login(name, btn) {
    const tab = window.open('', '_blank');
    if (btn) btn.disabled = true;
    try {
      const d = await api('POST', '/servers/' + enc(name) + '/login');
      if (tab) {
        tab.opener = null;
        tab.location.href = d.authorization_url;
      } else {
        window.open(d.authorization_url, '_blank', 'noopener');
      }
      toast(name + ': log in in the new tab; the server connects when you are done');
      return true;
    } catch (e) {
      if (tab) tab.close();
      showError(e);
      return false;
    } finally {
      if (btn) btn.disabled = false;
    }
  }

  // serverAction posts one action on a server; body, if given, is its JSON
  // body (the fingerprint an approval names).
  async function serverAction(name, action, btn, body) {
    if (action === 'login') return login(name, btn);
    if (action === 'remove') {
      const ok = await confirmDialog('Remove server "' + name + '"? It is deleted from the config file and its tool approvals are forgotten.', 'Remove');
      if (!ok) return false;
    }
    if (btn) btn.disabled = true;
    try {
      if (action === 'remove') await api('DELETE', '/servers/' + enc(name));
      else await api('POST', '/servers/' + enc(name) + '/' + action, body);
      const done = { enable: 'enabled', disable: 'disabled', restart: 'restarting', remove: 'removed', quarantine: 'quarantined', unquarantine: 'approved', logout: 'logged out' }[action];
      toast(name + ': ' + (done || action));
      return true;
    } catch (e) {
      showError(e);
      return false;
    } finally {
      if (btn) btn.disabled = false;
    }
  }

  // toolDecision approves or blocks tools. An approval names each tool's
  // definition by the fingerprint shown (tools are {name, fingerprint}), so
  // a definition that changed since the page showed it is refused.
  async function toolDecision(server, tools, approve) {
    let body;
    if (approve) body = { tools: tools.map((t) => ({ name: t.name, fingerprint: t.fingerprint })) };
    else body = tools === 'all' ? { all: true } : { tools: tools.map((t) => t.name) };
    const data = await api('POST', '/servers/' + enc(server) + '/tools/' + (approve ? 'approve' : 'block'), body);
    const done = (approve ? data.approved : data.blocked) || [];
    toast(server + ': ' + (approve ? 'approved ' : 'blocked ') + (done.length ? done.join(', ') : 'nothing'));
  }

  // --- shared views ------------------------------------------------------------

  function diffView(diff) {
    const pre = el('pre', { class: 'diff' });
    for (const line of diff.split('\n')) {
      const cls = line.startsWith('+ ') ? 'add' : line.startsWith('- ') ? 'del' : '';
      pre.append(el('span', { class: cls, text: line + '\n' }));
    }
    return pre;
  }

  function warningsView(warnings) {
    if (!warnings || !warnings.length) return null;
    return el('ul', { class: 'warnings' }, warnings.map((w) =>
      el('li', null, el('strong', { text: w.kind }), ' in ', el('code', { text: w.field }), ': ', w.detail)));
  }

  // specView shows a server's spec as a person reviews it before approving:
  // every field (placeholders kept, literal secrets as ***), the
  // fingerprint an approval names, what changed since the last approval,
  // and warnings.
  function specView(rv) {
    const sp = rv.spec || {};
    const rows = [['Protocol', sp.protocol]];
    if (sp.command) rows.push(['Command', sp.command]);
    if (sp.args && sp.args.length) rows.push(['Args', JSON.stringify(sp.args)]);
    for (const k of Object.keys(sp.env || {}).sort()) rows.push(['env.' + k, sp.env[k]]);
    if (sp.working_dir) rows.push(['Working dir', sp.working_dir]);
    if (sp.url) rows.push(['URL', sp.url]);
    for (const k of Object.keys(sp.headers || {}).sort()) rows.push(['headers.' + k, sp.headers[k]]);
    if (sp.oauth) rows.push(['OAuth', JSON.stringify(sp.oauth)]);
    rows.push(['Fingerprint', rv.fingerprint]);
    rows.push(['Approved', rv.approved_at ? fmtTime(rv.approved_at) + (rv.diff && rv.diff.length ? ' (changed since)' : ' (unchanged since)') : 'never: a new server']);
    const box = el('div', { class: 'spec', dataset: { fingerprint: rv.fingerprint } },
      el('dl', { class: 'info' }, rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', null, el('code', { text: String(v) }))])));
    if (rv.diff && rv.diff.length) {
      const pre = el('pre', { class: 'diff spec-diff' });
      for (const c of rv.diff) {
        if (c.before) pre.append(el('span', { class: 'del', text: '- ' + c.field + ': ' + c.before + '\n' }));
        if (c.after) pre.append(el('span', { class: 'add', text: '+ ' + c.field + ': ' + c.after + '\n' }));
      }
      box.append(el('div', { class: 'diff-head muted', text: 'Changed since the spec last approved:' }), pre);
    }
    const w = warningsView(rv.warnings);
    if (w) box.append(w);
    return box;
  }

  // toolCard shows one tool under review. opts.actions adds Approve/Block;
  // opts.open keeps the schema expanded; opts.onDone runs after a decision.
  function toolCard(server, t, opts) {
    opts = opts || {};
    const head = el('div', { class: 'tool-head' },
      el('code', { class: 'tool-name', text: t.name }),
      t.title ? el('span', { class: 'muted', text: t.title }) : null,
      t.approval ? el('span', { class: 'badge approval-' + t.approval, text: t.approval }) : null,
      t.warnings && t.warnings.length ? el('span', { class: 'badge warn', text: t.warnings.length + (t.warnings.length === 1 ? ' warning' : ' warnings') }) : null,
      t.approved_at ? el('span', { class: 'muted small', text: 'approved ' + fmtTime(t.approved_at) }) : null);
    const card = el('div', { class: 'tool', dataset: { tool: t.name } }, head);
    if (t.description) card.append(el('p', { class: 'desc', text: t.description }));
    const w = warningsView(t.warnings);
    if (w) card.append(w);
    if (t.diff) card.append(el('div', { class: 'diff-head muted', text: 'Changed since approval:' }), diffView(t.diff));
    if (t.input_schema) {
      const det = el('details', { class: 'schema', open: !!opts.open, dataset: { key: server + '/' + t.name } },
        el('summary', { text: 'Input schema' }), el('pre', { text: pretty(t.input_schema) }));
      card.append(det);
    }
    if (opts.actions) {
      const acts = el('div', { class: 'actions' });
      const decide = (approve) => async (e) => {
        e.target.disabled = true;
        try {
          await toolDecision(server, [t], approve);
          if (opts.onDone) opts.onDone();
        } catch (err) {
          showError(err);
          e.target.disabled = false;
        }
      };
      if (t.approval !== 'approved') acts.append(el('button', { type: 'button', class: 'primary', dataset: { action: 'approve-tool' }, text: 'Approve', onclick: decide(true) }));
      if (t.approval !== 'blocked') acts.append(el('button', { type: 'button', class: 'danger', dataset: { action: 'block-tool' }, text: 'Block', onclick: decide(false) }));
      card.append(acts);
    }
    return card;
  }

  // openDetails and restoreDetails keep expanded schemas expanded across a
  // re-render.
  function openDetails(root) {
    return new Set([...root.querySelectorAll('details[open]')].map((d) => d.dataset.key));
  }

  function restoreDetails(root, keys) {
    for (const d of root.querySelectorAll('details')) if (keys.has(d.dataset.key)) d.open = true;
  }

  function activityWhat(r) {
    if (r.kind === 'tool_call') return (r.server ? r.server + ':' : '') + (r.tool || '');
    return (r.action || r.kind) + (r.server ? ' ' + r.server : '');
  }

  // clientText names who made a request: the client's name, and the agent
  // token it came with.
  function clientText(r) {
    const c = r.client || {};
    const name = c.name || r.endpoint || '';
    if (!c.token) return name;
    return name ? name + ' (token ' + c.token + ')' : 'token ' + c.token;
  }

  function activityRow(r, fresh) {
    return el('tr', { class: 'clickable' + (fresh ? ' fresh' : ''), dataset: { id: r.id } },
      el('td', { class: 'nowrap' }, el('a', { href: '#/activity/' + enc(r.id), text: fmtTime(r.time) })),
      el('td', { text: r.kind === 'tool_call' ? 'tool call' : r.kind }),
      el('td', { class: 'what', text: activityWhat(r) }),
      el('td', null, el('span', { class: 'badge status-' + r.status, text: r.status }), sensitiveBadge(r)),
      el('td', { class: 'num', text: r.duration_ms != null ? r.duration_ms.toFixed(1) + ' ms' : '' }),
      el('td', { class: 'muted', text: clientText(r) }));
  }

  // sensitiveKinds lists the kinds of sensitive data a record names.
  function sensitiveKinds(r) {
    const s = r.sensitive;
    if (!s) return [];
    return [...new Set([...(s.arguments || []), ...(s.result || [])])].sort();
  }

  // sensitiveBadge marks a record in which sensitive data was found.
  function sensitiveBadge(r) {
    const kinds = sensitiveKinds(r);
    if (!kinds.length) return null;
    return el('span', { class: 'badge warn sensitive', title: 'Sensitive data: ' + kinds.join(', ') + ' (' + r.sensitive.action + ')', text: 'sensitive' });
  }

  function activityTable(tbody) {
    tbody.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      const tr = e.target.closest('tr[data-id]');
      if (tr) location.hash = '#/activity/' + enc(tr.dataset.id);
    });
    return el('table', { class: 'grid activity' },
      el('thead', null, el('tr', null, ['Time', 'Kind', 'What', 'Status', 'Duration', 'Client'].map((h) => el('th', { text: h })))),
      tbody);
  }

  function section(title, ...children) {
    return el('section', null, el('h2', { text: title }), children);
  }

  // --- pages ------------------------------------------------------------------
  //
  // A page is {el, title, route, onServers(names), onTools(server),
  // onActivity(record), onStatus(), destroy()}; all but el are optional.

  function dashboardPage() {
    const cardDefs = [
      ['total', 'servers', '#/servers'],
      ['ready', 'ready', '#/servers?state=ready'],
      ['connecting', 'connecting', '#/servers?state=connecting'],
      ['needs_auth', 'needs login', '#/servers?state=needs_auth'],
      ['error', 'error', '#/servers?state=error'],
      ['disabled', 'disabled', '#/servers?state=disabled'],
      ['tools', 'usable tools', '#/tools'],
      ['quarantined', 'quarantined servers', '#/quarantine'],
      ['pending', 'tools waiting for approval', '#/quarantine'],
    ];
    const nums = {};
    const cards = el('div', { class: 'cards' }, cardDefs.map(([key, label, href]) => {
      nums[key] = el('span', { class: 'num', text: '–' });
      return el('a', { class: 'card card-' + key, href, dataset: { card: key } }, nums[key], el('span', { class: 'label', text: label }));
    }));
    const progressBar = el('progress', { max: 1, value: 0 });
    const progressText = el('span');
    const progress = el('div', { class: 'progress', id: 'progress', hidden: true }, el('span', { text: 'Starting upstreams: ' }), progressText, progressBar);
    const configErr = el('div', { class: 'banner error', hidden: true });
    const configWarn = el('div', { class: 'banner warn', id: 'config-warnings', hidden: true });
    const attention = el('ul', { class: 'attention', id: 'attention' });
    const attentionMore = el('p', { class: 'more', id: 'attention-more', hidden: true }, el('a', { href: '#/servers?state=attention' }));
    const attentionNone = el('p', { class: 'muted', hidden: true });
    const recentBody = el('tbody');
    const recentEmpty = el('p', { class: 'muted', text: 'No activity yet.', hidden: true });
    const meta = el('p', { class: 'muted small' });
    const root = el('div', { class: 'page dashboard' },
      el('h1', { text: 'Dashboard' }), configErr, configWarn, progress, cards,
      section('Needs attention', attention, attentionNone, attentionMore),
      section('Recent activity', activityTable(recentBody), recentEmpty,
        el('p', null, el('a', { href: '#/activity', text: 'All activity →' }))),
      meta);

    function renderCounts() {
      const c = counts();
      for (const [key] of cardDefs) setText(nums[key], c[key] || 0);
      nums.error.parentElement.classList.toggle('alert', c.error > 0);
      nums.quarantined.parentElement.classList.toggle('alert', c.quarantined > 0);
      nums.pending.parentElement.classList.toggle('alert', c.pending > 0);
      progress.hidden = c.connecting === 0;
      if (c.connecting > 0) {
        setText(progressText, c.ready + ' of ' + c.enabled + ' ready');
        progressBar.max = Math.max(1, c.enabled);
        progressBar.value = c.ready;
      }
    }

    // renderAttention keeps one list item per server shown, by name, and
    // rewrites only what changed: with many servers failing, it runs on
    // every frame that brings events.
    const items = new Map(); // name -> {li, state, quar, reason, retry}
    function item(name) {
      const it = {
        li: el('li', { dataset: { name } }),
        state: el('span', { class: 'badge' }),
        quar: el('span', { class: 'badge state-quarantined', text: 'quarantined', hidden: true }),
        reason: el('span', { class: 'reason' }),
        retry: el('span', { class: 'muted' }),
      };
      add(it.li, [el('a', { href: serverHref(name), text: name }), ' ', it.state, ' ', it.quar, ' ', it.reason, it.retry]);
      return it;
    }
    function renderAttention() {
      const list = [];
      for (const s of servers.values()) if (attentionReason(s)) list.push(s);
      list.sort((a, b) => (a.name < b.name ? -1 : 1));
      const top = list.slice(0, ATTENTION_MAX);
      const keep = new Set(top.map((s) => s.name));
      for (const [name, it] of items) {
        if (!keep.has(name)) {
          it.li.remove();
          items.delete(name);
        }
      }
      const now = Date.now();
      let prev = null;
      for (const s of top) {
        let it = items.get(s.name);
        if (!it) {
          it = item(s.name);
          items.set(s.name, it);
        }
        setText(it.state, stateLabel(s.state, s.installing));
        const cls = 'badge state-' + s.state;
        if (it.state.className !== cls) it.state.className = cls;
        it.quar.hidden = !s.quarantined;
        setText(it.reason, attentionReason(s));
        const r = retryText(s, now);
        setText(it.retry, r ? ' · retry ' + r : '');
        const want = prev ? prev.nextSibling : attention.firstChild;
        if (want !== it.li) attention.insertBefore(it.li, want);
        prev = it.li;
      }
      attentionMore.hidden = list.length <= ATTENTION_MAX;
      setText(attentionMore.firstChild, 'and ' + (list.length - ATTENTION_MAX) + ' more →');
      attentionNone.hidden = list.length > 0;
      setText(attentionNone, servers.size ? 'Nothing: every server is fine.' : 'No servers configured yet.');
    }

    function renderStatus() {
      const err = status && status.config_error;
      configErr.hidden = !err;
      configErr.textContent = err ? 'The last config edit was rejected and the previous config is still running: ' + err : '';
      const warnings = (status && status.config_warnings) || [];
      configWarn.hidden = warnings.length === 0;
      configWarn.textContent = warnings.length ? 'The config file runs, with warnings: ' + warnings.join('; ') : '';
      if (status) {
        setText(meta, 'mcpproxy ' + (status.version || '') + ' · listening on ' + (status.listen || '') + ' · config ' + (status.config_path || ''));
      }
    }

    let recent = [];
    function renderRecent() {
      fill(recentBody, ...recent.map((r) => activityRow(r)));
      recentEmpty.hidden = recent.length > 0;
    }
    api('GET', '/activity?limit=10').then((p) => {
      const have = new Set(recent.map((r) => r.id));
      recent = recent.concat((p.records || []).filter((r) => !have.has(r.id))).slice(0, 10);
      renderRecent();
    }, showError);
    api('GET', '/status').then((s) => {
      status = s;
      renderStatus();
    }, showError);

    const tick = setInterval(renderAttention, 1000);
    renderCounts();
    renderAttention();
    renderStatus();
    return {
      el: root,
      title: 'Dashboard',
      route: 'dashboard',
      onServers() {
        renderCounts();
        renderAttention();
      },
      onStatus: renderStatus,
      onActivity(r) {
        if (recent.some((x) => x.id === r.id)) return;
        recent = [r].concat(recent).slice(0, 10);
        renderRecent();
      },
      destroy() {
        clearInterval(tick);
      },
    };
  }

  // serversPage is the big table. rows maps name -> row; order is the
  // sorted list of names with a row, for inserting new ones in place.
  function serversPage(params) {
    const rows = new Map();
    let order = [];
    let visibleRows = 0; // rows not hidden by the filters
    const counting = new Set(); // rows with a retry countdown
    const tbody = el('tbody');
    const qInput = el('input', { type: 'search', id: 'filter-name', placeholder: 'Filter by name', value: params.get('q') || '' });
    const stateSel = el('select', { id: 'filter-state' },
      el('option', { value: '', text: 'all states' }),
      STATES.map((s) => el('option', { value: s, text: s })),
      el('option', { value: 'quarantined', text: 'quarantined' }),
      el('option', { value: 'attention', text: 'needs attention' }));
    stateSel.value = params.get('state') || '';
    const shown = el('span', { class: 'muted', id: 'shown' });
    const empty = el('p', { class: 'muted', hidden: true, text: 'No servers configured yet. Add one.' });
    const form = addServerForm(() => {
      form.hidden = true;
    });
    form.hidden = true;
    const addBtn = el('button', {
      type: 'button', class: 'primary', id: 'add-server', text: 'Add server',
      onclick: () => {
        form.hidden = !form.hidden;
        if (!form.hidden) $('input[name=name]', form).focus();
      },
    });
    const root = el('div', { class: 'page servers' },
      el('div', { class: 'title-row' }, el('h1', { text: 'Servers' }), addBtn),
      form,
      el('div', { class: 'toolbar' }, qInput, stateSel, shown),
      el('table', { class: 'grid servers-table' },
        el('thead', null, el('tr', null, ['Name', 'State', 'Tools', 'Pending', 'Last error', 'Retry', ''].map((h) => el('th', { text: h })))),
        tbody),
      empty);

    function matches(s) {
      const q = qInput.value.trim().toLowerCase();
      if (q && !s.name.toLowerCase().includes(q)) return false;
      const f = stateSel.value;
      if (!f) return true;
      if (f === 'quarantined') return !!s.quarantined;
      if (f === 'attention') return !!attentionReason(s);
      return s.state === f;
    }

    function makeRow(name) {
      const r = {
        tr: el('tr', { dataset: { name }, hidden: true }), // shown (and counted) by updateRow
        state: el('span', { class: 'badge' }),
        quar: el('span', { class: 'badge state-quarantined', text: 'quarantined', hidden: true }),
        tools: el('td', { class: 'num' }),
        pending: el('td', { class: 'num' }),
        err: el('td', { class: 'err' }),
        retry: el('td', { class: 'retry nowrap' }),
        toggle: el('button', { type: 'button' }),
        restart: el('button', { type: 'button', dataset: { action: 'restart' }, text: 'Restart' }),
        login: el('button', { type: 'button', class: 'primary', dataset: { action: 'login' }, text: 'Log in', hidden: true }),
        s: null,
      };
      r.tr.append(
        el('td', { class: 'name' }, el('a', { href: serverHref(name), text: name })),
        el('td', { class: 'state nowrap' }, r.state, ' ', r.quar),
        r.tools, r.pending, r.err, r.retry,
        el('td', { class: 'actions nowrap' }, r.login, r.toggle, r.restart,
          el('button', { type: 'button', class: 'danger', dataset: { action: 'remove' }, text: 'Remove' })));
      return r;
    }

    // updateRow writes only what differs from the row's last server.
    function updateRow(r, s, now) {
      const p = r.s || {};
      if (p.state !== s.state || p.installing !== s.installing) {
        setText(r.state, stateLabel(s.state, s.installing));
        r.state.className = 'badge state-' + s.state;
        r.login.hidden = s.state !== 'needs_auth';
      }
      if (p.quarantined !== s.quarantined) r.quar.hidden = !s.quarantined;
      if (p.tool_count !== s.tool_count) setText(r.tools, s.tool_count || 0);
      if (p.pending_tools !== s.pending_tools) {
        setText(r.pending, s.pending_tools || '');
        r.pending.classList.toggle('alert', s.pending_tools > 0);
      }
      if (p.last_error !== s.last_error) {
        setText(r.err, s.last_error || '');
        r.err.title = s.last_error || '';
      }
      setText(r.retry, retryText(s, now));
      if (s.state === 'error' && s.next_retry_at) counting.add(r);
      else counting.delete(r);
      if (p.enabled !== s.enabled) {
        r.toggle.dataset.action = s.enabled ? 'disable' : 'enable';
        setText(r.toggle, s.enabled ? 'Disable' : 'Enable');
        // A disabled server has no connection to restart.
        r.restart.disabled = !s.enabled;
      }
      r.s = s;
      show(r, matches(s));
    }

    function buildAll() {
      const now = Date.now();
      order = [...servers.keys()].sort();
      const frag = document.createDocumentFragment();
      for (const name of order) {
        const r = makeRow(name);
        updateRow(r, servers.get(name), now);
        rows.set(name, r);
        frag.append(r.tr);
      }
      tbody.append(frag);
    }

    function insertRow(name, now) {
      const r = makeRow(name);
      updateRow(r, servers.get(name), now);
      rows.set(name, r);
      let lo = 0;
      let hi = order.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (order[mid] < name) lo = mid + 1;
        else hi = mid;
      }
      const next = lo < order.length ? rows.get(order[lo]).tr : null;
      order.splice(lo, 0, name);
      tbody.insertBefore(r.tr, next);
    }

    // show hides or shows a row, keeping count of the visible ones.
    function show(r, visible) {
      if (r.tr.hidden === !visible) return;
      r.tr.hidden = !visible;
      visibleRows += visible ? 1 : -1;
    }

    function countShown() {
      const n = visibleRows;
      setText(shown, n === rows.size ? rows.size + ' servers' : n + ' of ' + rows.size + ' servers');
      empty.hidden = rows.size > 0;
    }

    let filterTimer = 0;
    function refilter() {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(() => {
        for (const r of rows.values()) show(r, matches(r.s));
        countShown();
      }, 80);
    }
    qInput.addEventListener('input', refilter);
    stateSel.addEventListener('change', refilter);

    tbody.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-action]');
      if (!b) return;
      serverAction(b.closest('tr').dataset.name, b.dataset.action, b);
    });

    // The retry countdown ticks only the rows that have one.
    const tick = setInterval(() => {
      const now = Date.now();
      for (const r of counting) setText(r.retry, retryText(r.s, now));
    }, 1000);

    buildAll();
    countShown();
    return {
      el: root,
      title: 'Servers',
      route: 'servers',
      onServers(names) {
        const now = Date.now();
        const added = [];
        for (const name of names) {
          const s = servers.get(name);
          const r = rows.get(name);
          if (!s) {
            if (r) {
              show(r, false);
              counting.delete(r);
              r.tr.remove();
              rows.delete(name);
              order.splice(order.indexOf(name), 1);
            }
          } else if (r) {
            updateRow(r, s, now);
          } else {
            added.push(name);
          }
        }
        if (added.length && rows.size === 0) buildAll();
        else for (const name of added.sort()) insertRow(name, now);
        countShown();
      },
      destroy() {
        clearInterval(tick);
        clearTimeout(filterTimer);
      },
    };
  }

  // addServerForm posts one config entry. Errors from the API name their
  // field ("body.url: invalid URL …"); each goes next to its input.
  function addServerForm(onAdded) {
    const fields = [
      ['name', 'Name', 'input', 'letters, digits, _ . -'],
      ['protocol', 'Protocol', 'select'],
      ['command', 'Command', 'input', 'stdio: the program to run, e.g. npx'],
      ['args', 'Arguments', 'textarea', 'one per line'],
      ['env', 'Environment', 'textarea', 'KEY=value, one per line; ${env:NAME} takes it from mcpproxy\'s environment'],
      ['working_dir', 'Working directory', 'input', ''],
      ['url', 'URL', 'input', 'HTTP: the server\'s endpoint, often ending in /mcp or /sse'],
      ['headers', 'Headers', 'textarea', 'Name: value, one per line'],
      ['connect_timeout', 'Connect timeout', 'input', 'e.g. 30s'],
      ['call_timeout', 'Call timeout', 'input', 'e.g. 2m'],
    ];
    const inputs = {};
    const errs = {};
    const general = el('div', { class: 'form-error', id: 'add-error', hidden: true });
    const rowsEls = fields.map(([name, label, kind, hint]) => {
      let input;
      if (kind === 'select') {
        input = el('select', { name }, ['auto', 'stdio', 'streamable-http', 'sse'].map((p) => el('option', { value: p === 'auto' ? '' : p, text: p })));
      } else if (kind === 'textarea') {
        input = el('textarea', { name, rows: 2, placeholder: hint });
      } else {
        input = el('input', { name, type: 'text', placeholder: hint, autocomplete: 'off', spellcheck: 'false' });
      }
      inputs[name] = input;
      errs[name] = el('div', { class: 'field-error', dataset: { for: name }, hidden: true });
      return el('label', { class: 'field' }, el('span', { text: label }), input, errs[name]);
    });
    const enabled = el('input', { type: 'checkbox', name: 'enabled', checked: true });
    errs.enabled = el('div', { class: 'field-error', dataset: { for: 'enabled' }, hidden: true });
    const submit = el('button', { type: 'submit', class: 'primary', text: 'Add' });
    const form = el('form', { class: 'add-server', id: 'add-form', novalidate: true },
      el('h2', { text: 'Add server' }),
      el('p', { class: 'muted small', text: 'Give a command for a stdio server or a URL for an HTTP one. It is written to the config file and started at once.' }),
      general,
      el('div', { class: 'fields' }, rowsEls, el('label', { class: 'field check' }, enabled, el('span', { text: 'Enabled' }), errs.enabled)),
      el('div', { class: 'actions' }, submit,
        el('button', { type: 'button', text: 'Cancel', onclick: () => { clearErrors(); form.hidden = true; } })));

    function clearErrors() {
      general.hidden = true;
      general.textContent = '';
      for (const e of Object.values(errs)) {
        e.hidden = true;
        e.textContent = '';
      }
      for (const i of Object.values(inputs)) i.classList.remove('invalid');
    }

    function fieldError(field, msg) {
      const e = errs[field];
      if (!e) {
        general.hidden = false;
        general.append(el('div', { text: msg }));
        return;
      }
      e.hidden = false;
      e.append(el('div', { text: msg }));
      if (inputs[field]) inputs[field].classList.add('invalid');
    }

    const lines = (v) => v.split('\n').map((l) => l.trim()).filter((l) => l !== '');

    function pairs(field, sep) {
      const out = {};
      let ok = true;
      for (const line of lines(inputs[field].value)) {
        const i = line.indexOf(sep);
        if (i <= 0) {
          fieldError(field, field + ': "' + line + '" is not ' + (sep === '=' ? 'KEY=value' : 'Name: value'));
          ok = false;
          continue;
        }
        out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      return ok ? out : null;
    }

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors();
      const body = { enabled: enabled.checked };
      for (const f of ['name', 'protocol', 'command', 'working_dir', 'url', 'connect_timeout', 'call_timeout']) {
        const v = inputs[f].value.trim();
        if (v) body[f] = v;
      }
      const args = lines(inputs.args.value);
      if (args.length) body.args = args;
      const env = pairs('env', '=');
      const headers = pairs('headers', ':');
      if (!env || !headers) return;
      if (Object.keys(env).length) body.env = env;
      if (Object.keys(headers).length) body.headers = headers;
      submit.disabled = true;
      try {
        const stored = await api('POST', '/servers', body);
        toast('Added ' + stored.name);
        form.reset();
        enabled.checked = true;
        if (onAdded) onAdded(stored);
      } catch (err) {
        if (err.status === 401) return;
        if (err.code === 'conflict') {
          fieldError('name', err.message);
        } else if (err.code === 'invalid') {
          for (const part of err.message.split('; ')) {
            const m = /^body\.([a-z_]+)/.exec(part);
            fieldError(m ? m[1] : '', part);
          }
        } else {
          fieldError('', err.message);
        }
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  function serverPage(name) {
    const title = el('h1', null, el('a', { href: '#/servers', class: 'crumb', text: 'Servers' }), ' / ', el('span', { text: name }));
    const badges = el('span', { class: 'badges' });
    const actions = el('div', { class: 'actions' });
    const info = el('dl', { class: 'info' });
    const toolsBox = el('div', { class: 'tools', id: 'tools' }, el('p', { class: 'muted', text: 'Loading tools…' }));
    const toolsNote = el('span', { class: 'muted small' });
    const logs = el('pre', { class: 'logs', id: 'logs', text: 'Loading…' });
    const logsNote = el('p', { class: 'muted small' });
    const missing = el('p', { class: 'banner error', hidden: true, text: 'No server named "' + name + '".' });
    const specBox = el('div', { id: 'spec' }, el('p', { class: 'muted', text: 'Loading…' }));
    const root = el('div', { class: 'page server' },
      el('div', { class: 'title-row' }, title, badges), missing, actions,
      section('Connection', info),
      section('Spec', specBox),
      el('section', null,
        el('div', { class: 'title-row' }, el('h2', { text: 'Tools' }), toolsNote,
          el('button', { type: 'button', dataset: { action: 'approve-all' }, text: 'Approve all waiting', onclick: (e) => decideAll(e, true) })),
        toolsBox),
      el('section', null,
        el('div', { class: 'title-row' }, el('h2', { text: 'stderr log' }),
          el('button', { type: 'button', id: 'logs-refresh', text: 'Refresh', onclick: loadLogs })),
        logsNote, logs),
      el('p', null, el('a', { href: '#/activity?server=' + enc(name), text: 'Activity of this server →' })));

    function renderHead() {
      const s = servers.get(name);
      missing.hidden = !!s || servers.size === 0;
      if (!s) {
        fill(badges);
        fill(actions);
        fill(info);
        return;
      }
      fill(badges, stateBadge(s.state, s.installing), s.quarantined ? el('span', { class: 'badge state-quarantined', text: 'quarantined' }) : null);
      const btn = (action, label, cls) => el('button', { type: 'button', class: cls, dataset: { action }, text: label, onclick: (e) => act(action, e.target) });
      const http = s.protocol && s.protocol !== 'stdio';
      fill(actions,
        s.state === 'needs_auth' ? btn('login', 'Log in', 'primary') : null,
        s.enabled ? btn('disable', 'Disable') : btn('enable', 'Enable'),
        btn('restart', 'Restart'),
        s.quarantined ? btn('unquarantine', 'Approve server', 'primary') : btn('quarantine', 'Quarantine'),
        
        http && s.state !== 'needs_auth' ? btn('logout', 'Log out') : null,
        btn('remove', 'Remove', 'danger'));
      const now = Date.now();
      const rowsOut = [
        ['State', s.state + (s.enabled ? '' : ' (disabled in config)')],
        ['Protocol', s.protocol],
        ['PID', s.pid || ''],
        ['Server info', s.server_info ? s.server_info.name + (s.server_info.version ? ' ' + s.server_info.version : '') : ''],
        ['MCP version', s.protocol_version || ''],
        ['Connected at', fmtTime(s.connected_at)],
        ['Tools', (s.tool_count || 0) + ' (' + (s.pending_tools || 0) + ' waiting, ' + (s.blocked_tools || 0) + ' blocked)'],
        ['Last error', s.last_error || ''],
        ['Last error at', fmtTime(s.last_error_at)],
        ['Retries', s.retry_count || 0],
        ['Next retry', retryText(s, now)],
      ];
      fill(info, ...rowsOut.filter(([, v]) => v !== '').flatMap(([k, v]) =>
        [el('dt', { text: k }), el('dd', { class: k === 'Last error' ? 'err' : '', text: v })]));
    }

    // review is the spec shown in specBox: Approve server approves exactly
    // that one, by its fingerprint.
    let review = null;
    let specSeq = 0;
    async function loadSpec() {
      const my = ++specSeq;
      try {
        const d = await api('GET', '/servers/' + enc(name));
        if (my !== specSeq) return;
        review = d.review || null;
        fill(specBox, review ? specView(review) : el('p', { class: 'muted', text: 'Not available.' }));
      } catch (e) {
        if (my === specSeq && e.status !== 404) showError(e);
      }
    }

    async function act(action, btn) {
      if (action === 'unquarantine' && !review) {
        toast('The spec is still loading; approve once it is shown.', 'error');
        return;
      }
      const ok = await serverAction(name, action, btn, action === 'unquarantine' ? { fingerprint: review.fingerprint } : undefined);
      if (!ok && action === 'unquarantine') loadSpec();
      if (ok && action === 'remove') location.hash = '#/servers';
      if (ok && (action === 'unquarantine' || action === 'quarantine')) loadToolsSoon();
      if (ok) loadSpec();
    }

    let toolsSeq = 0;
    let shownTools = [];
    async function loadTools() {
      const my = ++toolsSeq;
      try {
        const list = await api('GET', '/servers/' + enc(name) + '/tools');
        if (my !== toolsSeq) return;
        shownTools = list;
        const open = openDetails(toolsBox);
        const s = servers.get(name);
        const canDecide = !(s && s.quarantined);
        if (!list.length) {
          fill(toolsBox, el('p', { class: 'muted', text: s && s.state === 'ready' ? 'This server lists no tools.' :
            s && s.quarantined ? 'Not started: a quarantined server runs only once you approve its spec above.' : 'No tools yet: tools are listed once the server is ready.' }));
        } else {
          fill(toolsBox, ...list.map((t) => toolCard(name, t, { actions: canDecide, onDone: loadToolsSoon })));
          restoreDetails(toolsBox, open);
        }
        const waiting = list.filter((t) => t.approval === 'pending' || t.approval === 'changed').length;
        setText(toolsNote, list.length + ' tools' + (waiting ? ', ' + waiting + ' waiting for approval' : '') +
          (s && s.quarantined ? ' · the server is quarantined: approve the server to use them' : ''));
        root.querySelector('[data-action=approve-all]').hidden = !canDecide || waiting === 0;
      } catch (e) {
        if (my !== toolsSeq) return;
        if (e.status === 404) fill(toolsBox, el('p', { class: 'muted', text: 'No such server.' }));
        else showError(e);
      }
    }
    let toolsTimer = 0;
    function loadToolsSoon() {
      clearTimeout(toolsTimer);
      toolsTimer = setTimeout(loadTools, 200);
    }

    async function decideAll(e, approve) {
      e.target.disabled = true;
      try {
        await toolDecision(name, approve ? shownTools.filter((t) => t.approval === 'pending' || t.approval === 'changed') : 'all', approve);
        loadToolsSoon();
      } catch (err) {
        showError(err);
      } finally {
        e.target.disabled = false;
      }
    }

    async function loadLogs() {
      try {
        const l = await api('GET', '/servers/' + enc(name) + '/logs?tail=200');
        logs.textContent = l.lines.length ? l.lines.join('\n') : '(no stderr output)';
        setText(logsNote, 'Last ' + l.lines.length + ' lines' + (l.file ? ' · full log: ' + l.file : '') + ' · loaded ' + new Date().toLocaleTimeString());
        logs.scrollTop = logs.scrollHeight;
      } catch (e) {
        if (e.status === 404) logs.textContent = '';
        else showError(e);
      }
    }

    let last = servers.get(name);
    renderHead();
    loadSpec();
    loadTools();
    loadLogs();
    const tick = setInterval(() => {
      const s = servers.get(name);
      if (s && s.state === 'error' && s.next_retry_at) renderHead();
    }, 1000);
    return {
      el: root,
      title: name,
      route: 'servers',
      onServers(names) {
        if (!names.has(name)) return;
        const s = servers.get(name);
        renderHead();
        if (!last || !s || last.state !== s.state || last.quarantined !== s.quarantined || last.pending_tools !== s.pending_tools) loadToolsSoon();
        if (!last || !s || last.quarantined !== s.quarantined) loadSpec();
        last = s;
      },
      onTools(server) {
        if (server === name) loadToolsSoon();
      },
      destroy() {
        clearInterval(tick);
        clearTimeout(toolsTimer);
      },
    };
  }

  function quarantinePage() {
    const box = el('div', { id: 'waiting' }, el('p', { class: 'muted', text: 'Loading…' }));
    const root = el('div', { class: 'page quarantine' },
      el('h1', { text: 'Quarantine' }),
      el('p', { class: 'muted', text: 'Servers and tools here are withheld from agents until you approve them. Read the warnings and, for changed tools, what changed.' }),
      box);

    let loadSeq = 0;
    async function load() {
      const my = ++loadSeq;
      try {
        const list = await api('GET', '/quarantine');
        if (my !== loadSeq) return;
        const open = openDetails(box);
        if (!list.length) {
          fill(box, el('p', { class: 'empty', id: 'nothing-waiting', text: 'Nothing waits for approval.' }));
          return;
        }
        fill(box, ...list.map((w) => {
          const head = el('div', { class: 'title-row' },
            el('h2', null, el('a', { href: serverHref(w.server), text: w.server })),
            stateBadge(w.state),
            w.quarantined ? el('span', { class: 'badge state-quarantined', text: 'quarantined' }) : null);
          const card = el('div', { class: 'waiting card-box', dataset: { server: w.server } }, head);
          if (w.last_error) card.append(el('p', { class: 'err', text: w.last_error }));
          if (w.quarantined) {
            card.append(el('p', { class: 'muted', text: 'The whole server is quarantined: it is not started until you approve the spec below. ' +
              'Approving starts it; a server that never ran approved has its first tools approved with it, one with approved tools keeps them and its new or changed tools wait.' }));
            if (w.review) card.append(specView(w.review));
            card.append(el('div', { class: 'actions' }, el('button', {
              type: 'button', class: 'primary', dataset: { action: 'unquarantine' }, text: 'Approve server', disabled: !w.review,
              onclick: async (e) => {
                await serverAction(w.server, 'unquarantine', e.target, { fingerprint: w.review.fingerprint });
                loadSoon();
              },
            })));
          }
          for (const t of w.tools) card.append(toolCard(w.server, t, { actions: !w.quarantined, onDone: loadSoon }));
          return card;
        }));
        restoreDetails(box, open);
      } catch (e) {
        if (my === loadSeq) showError(e);
      }
    }
    let timer = 0;
    function loadSoon() {
      clearTimeout(timer);
      timer = setTimeout(load, 250);
    }
    load();
    return {
      el: root,
      title: 'Quarantine',
      route: 'quarantine',
      onServers(names) {
        for (const n of names) {
          const s = servers.get(n);
          if (!s || s.quarantined || s.pending_tools > 0 || box.querySelector('[data-server="' + CSS.escape(n) + '"]')) {
            loadSoon();
            return;
          }
        }
      },
      onTools: loadSoon,
      destroy() {
        clearTimeout(timer);
      },
    };
  }

  // whyText says in one line which query terms (or their synonyms) a hit
  // matched and in which fields, most weight first, and how much of the
  // query it covered (the factor its score was multiplied by).
  function whyText(why) {
    if (!why || !why.terms) return '';
    const terms = why.terms.slice().sort((a, b) => b.total - a.total).map((c) => {
      const fields = Object.keys(c.fields || {}).filter((f) => c.fields[f] > 0).join('+');
      return (c.synonym_of ? c.term + ' (for ' + c.synonym_of + ')' : c.term) + (fields ? ' in ' + fields : '');
    });
    const covered = typeof why.coverage === 'number' ? ' · covers ' + Math.round(why.coverage * 100) + '% of the query' : '';
    return terms.join(', ') + covered;
  }

  function toolsPage(params) {
    const q = params.get('q') || '';
    const input = el('input', { type: 'search', name: 'q', id: 'search-q', value: q, placeholder: 'What should the tool do? e.g. "read a file"', autocomplete: 'off' });
    const results = el('div', { id: 'results' });
    const form = el('form', { class: 'toolbar', role: 'search' }, input, el('button', { type: 'submit', class: 'primary', text: 'Search' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = input.value.trim();
      const target = '#/tools' + (v ? '?q=' + enc(v) : '');
      if (location.hash === target) search(v);
      else location.hash = target;
    });
    const root = el('div', { class: 'page tools' },
      el('h1', { text: 'Tool search' }),
      el('p', { class: 'muted', text: 'The same BM25 search agents get with retrieve_tools, over the tools of ready, approved servers.' }),
      form, results);

    async function search(v) {
      if (!v) {
        fill(results);
        return;
      }
      fill(results, el('p', { class: 'muted', text: 'Searching…' }));
      try {
        const found = await api('GET', '/tools/search?q=' + enc(v) + '&limit=50&explain=1');
        if (!found.length) {
          fill(results, el('p', { class: 'empty', text: 'No tools matched "' + v + '".' }));
          return;
        }
        fill(results, el('table', { class: 'grid results' },
          el('thead', null, el('tr', null, ['Tool', 'Description', 'Why it matched', 'Score'].map((h) => el('th', { text: h })))),
          el('tbody', null, found.map((t) => el('tr', { dataset: { id: t.id } },
            el('td', { class: 'nowrap' }, el('a', { href: serverHref(t.server), text: t.id })),
            el('td', { class: 'desc' }, el('div', { class: 'clamp', text: t.description || '' })),
            el('td', { class: 'why small', text: whyText(t.why) }),
            el('td', { class: 'num', text: typeof t.score === 'number' ? t.score.toFixed(2) : '' }))))));
      } catch (e) {
        fill(results);
        showError(e);
      }
    }
    search(q);
    setTimeout(() => input.focus(), 0);
    return { el: root, title: 'Tool search', route: 'tools' };
  }

  function activityPage(params) {
    const f = {};
    for (const k of ['server', 'tool', 'status', 'kind', 'sensitive']) f[k] = params.get(k) || '';
    const serverIn = el('input', { type: 'text', name: 'server', placeholder: 'server', value: f.server, list: 'activity-servers', autocomplete: 'off' });
    const toolIn = el('input', { type: 'text', name: 'tool', placeholder: 'tool', value: f.tool, autocomplete: 'off' });
    const statusSel = el('select', { name: 'status' }, el('option', { value: '', text: 'any status' }), ACTIVITY_STATUSES.map((s) => el('option', { value: s, text: s })));
    const kindSel = el('select', { name: 'kind' }, el('option', { value: '', text: 'any kind' }), ACTIVITY_KINDS.map((s) => el('option', { value: s, text: s.replace('_', ' ') })));
    const sensitiveIn = el('input', { type: 'checkbox', name: 'sensitive', id: 'filter-sensitive' });
    sensitiveIn.checked = f.sensitive === '1';
    statusSel.value = f.status;
    kindSel.value = f.kind;
    const names = el('datalist', { id: 'activity-servers' }, [...servers.keys()].sort().map((n) => el('option', { value: n })));
    const form = el('form', { class: 'toolbar' }, serverIn, names, toolIn, statusSel, kindSel,
      el('label', { class: 'check' }, sensitiveIn, ' sensitive only'),
      el('button', { type: 'submit', class: 'primary', text: 'Filter' }),
      el('a', { href: '#/activity', class: 'button', text: 'Clear' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const p = new URLSearchParams();
      for (const [k, v] of [['server', serverIn.value], ['tool', toolIn.value], ['status', statusSel.value], ['kind', kindSel.value], ['sensitive', sensitiveIn.checked ? '1' : '']]) {
        if (v.trim()) p.set(k, v.trim());
      }
      const qs = p.toString();
      location.hash = '#/activity' + (qs ? '?' + qs : '');
    });
    statusSel.addEventListener('change', () => form.requestSubmit());
    kindSel.addEventListener('change', () => form.requestSubmit());
    sensitiveIn.addEventListener('change', () => form.requestSubmit());
    const tbody = el('tbody');
    const ids = new Set();
    const more = el('button', { type: 'button', id: 'load-more', text: 'Load more', hidden: true, onclick: () => loadPage() });
    const empty = el('p', { class: 'muted', text: 'No activity matches.', hidden: true });
    const root = el('div', { class: 'page activity' },
      el('h1', { text: 'Activity' }),
      el('p', { class: 'muted', text: 'Every tool call and management action, newest first. New records appear as they happen.' }),
      form, activityTable(tbody), empty, el('div', { class: 'actions' }, more));

    let cursor = '';
    async function loadPage() {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
      p.set('limit', '50');
      if (cursor) p.set('cursor', cursor);
      more.disabled = true;
      try {
        const page = await api('GET', '/activity?' + p.toString());
        const frag = document.createDocumentFragment();
        for (const r of page.records || []) {
          if (ids.has(r.id)) continue;
          ids.add(r.id);
          frag.append(activityRow(r));
        }
        tbody.append(frag);
        cursor = page.next_cursor || '';
        more.hidden = !cursor;
        empty.hidden = ids.size > 0;
      } catch (e) {
        showError(e);
      } finally {
        more.disabled = false;
      }
    }
    loadPage();
    return {
      el: root,
      title: 'Activity',
      route: 'activity',
      onActivity(r) {
        if (ids.has(r.id)) return;
        for (const [k, v] of Object.entries(f)) {
          if (k === 'sensitive') {
            if (v && !r.sensitive) return;
          } else if (v && r[k] !== v) return;
        }
        ids.add(r.id);
        tbody.prepend(activityRow(r, true));
        empty.hidden = true;
      },
    };
  }

  function activityDetailPage(id) {
    const box = el('div', null, el('p', { class: 'muted', text: 'Loading…' }));
    const root = el('div', { class: 'page activity-detail' },
      el('h1', null, el('a', { href: '#/activity', class: 'crumb', text: 'Activity' }), ' / ', el('span', { text: id })), box);
    api('GET', '/activity/' + enc(id)).then((r) => {
      const c = r.client || {};
      const rowsOut = [
        ['Time', fmtTime(r.time)],
        ['Kind', r.kind],
        ['Status', r.status],
        ['Server', r.server || ''],
        ['Tool', r.tool || ''],
        ['Action', r.action || ''],
        ['Endpoint', r.endpoint || ''],
        ['Intent', r.intent ? r.intent.variant : ''],
        ['Reason', r.intent && r.intent.reason ? r.intent.reason : ''],
        ['Client', [c.name, c.version].filter(Boolean).join(' ')],
        ['Agent token', c.token || ''],
        ['Remote', c.remote || ''],
        ['Session', c.session_id || ''],
        ['Duration', r.duration_ms != null ? r.duration_ms.toFixed(1) + ' ms' : ''],
        ['Result size', r.result_size ? r.result_size + ' bytes' : ''],
        ['Sensitive in arguments', r.sensitive && r.sensitive.arguments ? r.sensitive.arguments.join(', ') : ''],
        ['Sensitive in result', r.sensitive && r.sensitive.result ? r.sensitive.result.join(', ') : ''],
        ['Sensitive data', r.sensitive ? { flag: 'flagged', redact: 'redacted in what reached the client', block: 'blocked' }[r.sensitive.action] || r.sensitive.action : ''],
      ];
      fill(box,
        el('dl', { class: 'info' }, rowsOut.filter(([, v]) => v !== '').flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])),
        r.error ? section('Error', el('pre', { class: 'err', id: 'activity-error', text: r.error })) : null,
        section('Arguments', r.arguments !== undefined ? el('pre', { id: 'activity-args', text: pretty(r.arguments) }) : el('p', { class: 'muted', text: 'none' })));
    }, (e) => {
      fill(box, el('p', { class: 'banner error', text: e.status === 404 ? 'No activity record ' + id + '.' : e.message }));
    });
    return { el: root, title: 'Activity ' + id, route: 'activity' };
  }

  // tokensPage lists agent tokens, creates one (its secret is shown once,
  // on this page, until the person leaves it) and revokes them.
  function tokensPage() {
    const tbody = el('tbody');
    const empty = el('p', { class: 'empty', hidden: true, text: 'No agent tokens yet.' });
    const created = el('div', { id: 'token-created' });
    const nameIn = el('input', { type: 'text', name: 'name', id: 'token-name', placeholder: 'name, e.g. ci-bot', required: true, autocomplete: 'off' });
    const serversIn = el('input', { type: 'text', name: 'servers', id: 'token-servers', placeholder: 'servers: github,gitlab or *', required: true, autocomplete: 'off' });
    const expiresIn = el('input', { type: 'text', name: 'expires', id: 'token-expires', placeholder: 'expires, e.g. 30d (empty: never)', autocomplete: 'off' });
    const readOnlyIn = el('input', { type: 'checkbox', name: 'read_only', id: 'token-read-only' });
    const manageIn = el('input', { type: 'checkbox', name: 'manage', id: 'token-manage' });
    const form = el('form', { class: 'toolbar', id: 'token-form' }, nameIn, serversIn, expiresIn,
      el('label', null, readOnlyIn, ' read-only tools only'),
      el('label', null, manageIn, ' may manage servers'),
      el('button', { type: 'submit', class: 'primary', text: 'Create token' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const spec = {
        name: nameIn.value.trim(),
        servers: serversIn.value.split(',').map((x) => x.trim()).filter(Boolean),
        read_only: readOnlyIn.checked,
        manage: manageIn.checked,
        expires: expiresIn.value.trim(),
      };
      try {
        const t = await api('POST', '/tokens', spec);
        form.reset();
        fill(created, el('div', { class: 'banner' },
          el('p', null, 'Created agent token ', el('strong', { text: t.name }), '. Copy the secret now: it is not shown again.'),
          el('pre', { id: 'token-secret', text: t.secret }),
          el('p', { class: 'muted', text: 'MCP clients send it as the header Authorization: Bearer <secret>.' })));
        load();
      } catch (err) {
        showError(err);
      }
    });
    const root = el('div', { class: 'page tokens' },
      el('h1', { text: 'Agent tokens' }),
      el('p', { class: 'muted', text: 'An agent token names an MCP client and limits it to some servers, optionally to read-only tools, and to managing servers only when allowed. Only its hash is stored.' }),
      form, created,
      el('table', { class: 'grid', id: 'tokens' },
        el('thead', null, el('tr', null, ['Name', 'Servers', 'Read-only', 'Manage', 'Created', 'Expires', 'Last used', ''].map((h) => el('th', { text: h })))),
        tbody),
      empty);

    function row(t) {
      const revoke = el('button', { type: 'button', class: 'danger', dataset: { action: 'revoke-token' }, text: 'Revoke' });
      revoke.addEventListener('click', async () => {
        if (!(await confirmDialog('Revoke agent token ' + t.name + '? Clients using it are refused from their next request.', 'Revoke'))) return;
        revoke.disabled = true;
        try {
          await api('DELETE', '/tokens/' + enc(t.name));
          load();
        } catch (err) {
          showError(err);
          revoke.disabled = false;
        }
      });
      const expires = t.expires_at ? (t.expired ? 'expired ' : '') + fmtTime(t.expires_at) : 'never';
      return el('tr', { dataset: { token: t.name } },
        el('td', { text: t.name }),
        el('td', { text: (t.servers || []).join(', ') }),
        el('td', { text: t.read_only ? 'yes' : 'no' }),
        el('td', { text: t.manage ? 'yes' : 'no' }),
        el('td', { class: 'nowrap', text: fmtTime(t.created_at) }),
        el('td', { class: 'nowrap' + (t.expired ? ' bad' : ''), text: expires }),
        el('td', { class: 'nowrap', text: t.last_used ? fmtTime(t.last_used) : 'never' }),
        el('td', null, revoke));
    }

    async function load() {
      try {
        const list = await api('GET', '/tokens');
        fill(tbody, list.map(row));
        empty.hidden = list.length > 0;
      } catch (err) {
        showError(err);
      }
    }
    load();
    return { el: root, title: 'Agent tokens', route: 'tokens' };
  }

  // connectPage shows how to point each MCP client at this daemon, as
  // `mcpproxy connect CLIENT` would write it, with a copy button each.
  function connectPage() {
    const url = location.origin + '/mcp';
    const bridge = { command: 'npx', args: ['-y', 'mcp-remote', url] };
    const clients = [
      ['claude-desktop', 'Claude Desktop', 'claude_desktop_config.json (it takes no URL: mcp-remote bridges)', { mcpServers: { mcpproxy: bridge } }],
      ['cursor', 'Cursor', '~/.cursor/mcp.json', { mcpServers: { mcpproxy: { url } } }],
      ['vscode', 'VS Code', 'mcp.json of your user or workspace', { servers: { mcpproxy: { type: 'http', url } } }],
      ['claude-code', 'Claude Code', '~/.claude.json', { mcpServers: { mcpproxy: { type: 'http', url } } }],
    ];
    const cards = clients.map(([id, name, where, snippet]) => {
      const text = JSON.stringify(snippet, null, 2);
      const pre = el('pre', { class: 'snippet', text });
      const copy = el('button', { type: 'button', text: 'Copy' });
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(text);
          toast('Copied the ' + name + ' entry', 'info');
        } catch (err) {
          toast('Copy failed: select the text instead', 'error');
        }
      });
      return el('section', { class: 'card-block', dataset: { client: id } },
        el('h2', { text: name }),
        el('p', { class: 'muted', text: 'Merge into ' + where + ', or run: mcpproxy connect ' + id }),
        pre, copy);
    });
    const codex = '[mcp_servers.mcpproxy]\ncommand = "npx"\nargs = ["-y", "mcp-remote", "' + url + '"]';
    cards.push(el('section', { class: 'card-block', dataset: { client: 'codex' } },
      el('h2', { text: 'Codex' }),
      el('p', { class: 'muted', text: 'Add to ~/.codex/config.toml, or run: mcpproxy connect codex' }),
      el('pre', { class: 'snippet', text: codex })));
    const root = el('div', { class: 'page connect' },
      el('h1', { text: 'Connect a client' }),
      el('p', null, 'MCP endpoint: ', el('code', { id: 'mcp-url', text: url }),
        '. On a loopback address it needs no key; with an agent token, clients send it as Authorization: Bearer mcpp_… (see Tokens).'),
      ...cards);
    return { el: root, title: 'Connect a client', route: 'connect' };
  }

  function notFoundPage() {
    return {
      el: el('div', { class: 'page' }, el('h1', { text: 'Not found' }), el('p', null, 'No such page. ', el('a', { href: '#/', text: 'Back to the dashboard' }))),
      title: 'Not found',
      route: '',
    };
  }

  // --- the key page -----------------------------------------------------------

  function showLogin(message) {
    disconnect();
    mount(null);
    $('#nav').hidden = true;
    $('#forget').hidden = true;
    const input = el('input', { type: 'password', id: 'apikey', name: 'apikey', autocomplete: 'current-password', placeholder: 'API key', required: true });
    const err = el('p', { class: 'form-error', hidden: !message, text: message || '' });
    const form = el('form', { class: 'login' },
      el('h1', { text: 'Open the mcpproxy dashboard' }),
      el('p', null, 'Enter the API key: ', el('code', { text: 'api_key' }), ' in mcpproxy\'s config file, or open the ', el('code', { text: 'ui:' }), ' link that ', el('code', { text: 'mcpproxy serve' }), ' prints at start.'),
      err, input, el('button', { type: 'submit', class: 'primary', text: 'Open' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const k = input.value.trim();
      if (!k) return;
      saveKey(k);
      try {
        status = await api('GET', '/status');
      } catch (ex) {
        if (ex.status !== 401) {
          err.hidden = false;
          err.textContent = ex.message;
        }
        return;
      }
      start();
    });
    fill($('#main'), form);
    document.title = 'mcpproxy';
    input.focus();
  }

  // --- routing ----------------------------------------------------------------

  function mount(p) {
    if (page && page.destroy) page.destroy();
    page = p;
    if (!p) return;
    fill($('#main'), p.el);
    document.title = (p.title ? p.title + ' · ' : '') + 'mcpproxy';
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === p.route);
  }

  function route() {
    if (!loadKey()) {
      showLogin();
      return;
    }
    const raw = location.hash.replace(/^#\/?/, '');
    const qi = raw.indexOf('?');
    const path = qi < 0 ? raw : raw.slice(0, qi);
    const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
    let parts;
    try {
      parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    } catch (e) {
      parts = ['?'];
    }
    let p;
    switch (parts[0]) {
      case undefined:
        p = dashboardPage();
        break;
      case 'servers':
        p = parts.length > 1 ? serverPage(parts[1]) : serversPage(params);
        break;
      case 'quarantine':
        p = quarantinePage();
        break;
      case 'tools':
        p = toolsPage(params);
        break;
      case 'activity':
        p = parts.length > 1 ? activityDetailPage(parts[1]) : activityPage(params);
        break;
      case 'tokens':
        p = tokensPage();
        break;
      case 'connect':
        p = connectPage();
        break;
      default:
        p = notFoundPage();
    }
    mount(p);
    window.scrollTo(0, 0);
  }

  function start() {
    $('#nav').hidden = false;
    $('#forget').hidden = false;
    connect();
    route();
  }

  window.addEventListener('hashchange', () => {
    if (loadKey()) route();
  });
  window.addEventListener('unhandledrejection', (e) => showError(e.reason));

  document.addEventListener('DOMContentLoaded', () => {
    $('#forget').addEventListener('click', () => {
      saveKey('');
      servers.clear();
      showLogin('The key was removed from this browser.');
    });
    takeKeyFromURL();
    if (loadKey()) start();
    else showLogin();
  });
})();

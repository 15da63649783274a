// The swejax run report: a static page that reads data/index.js at once and an episode's
// data file (data/r<run>/c<n>.js) only when that episode opens. No libraries, no network.
'use strict';
(function () {
  const S = window.SWEJAX = {};
  const PAGE = 100;
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  const chunks = {}, waiting = {};
  let IDX = null, ids = null, matches = [], listVersion = 0;
  const st = { tab: 'overview', run: 0, stage: '', iteration: '', task: '', outcome: '', q: '', page: 0, ep: '', turn: '' };
  const SEARCH_CHUNKS = 120;  // an action search reads at most this many data files
  let searchMemo = { key: null, list: null, note: '' }, renderToken = 0;
  let sel = 0, hits = [], hitAt = -1;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k.nodeType ? k : String(k));
    return e;
  }
  const app = () => document.getElementById('app');
  const fmt = (x, d = 3) => (x === null || x === undefined || Number.isNaN(x)) ? '' : (+x).toFixed(d);
  const pct = (x) => (x === null || x === undefined) ? '' : (100 * x).toFixed(1);
  S.fail = function (msg) { app().replaceChildren(el('p', { class: 'error' }, msg)); };

  S.chunk = function (r, n, eps) {
    const key = r + '/' + n;
    chunks[key] = eps;
    (waiting[key] || []).forEach((w) => w[0](eps));
    delete waiting[key];
  };
  function loadChunk(r, n) {
    const key = r + '/' + n;
    return new Promise((res, rej) => {
      if (chunks[key]) return res(chunks[key]);
      if (waiting[key]) return waiting[key].push([res, rej]);
      waiting[key] = [[res, rej]];
      const s = el('script', { src: 'data/r' + r + '/c' + n + '.js' });
      s.onerror = () => { (waiting[key] || []).forEach((w) => w[1](new Error('cannot load ' + s.src))); delete waiting[key]; };
      document.head.append(s);
    });
  }

  // -- episodes: ids, filters -------------------------------------------------
  const col = (r) => IDX.runs[r].episodes;
  function epId(r, i) {
    const c = col(r);
    return c.stages[c.stage[i]] + '_' + c.iteration[i] + '.' + c.tasks[c.task[i]] + '.' + c.group[i];
  }
  function findEp(id) {
    if (!ids) {
      ids = new Map();
      IDX.runs.forEach((_, r) => { for (let i = 0; i < col(r).n; i++) ids.set(r + ':' + epId(r, i), i); });
    }
    const i = ids.get(st.run + ':' + id);
    return i === undefined ? -1 : i;
  }
  function outcomeOk(c, i, o) {
    if (!o) return true;
    if (o === 'solved') return c.resolved[i] === 1;
    if (o === 'unsolved') return c.resolved[i] === 0;
    if (o === 'format_errors') return c.format_errors[i] > 0;
    return c.terminations[c.termination[i]] === o;
  }
  function filter() {
    const c = col(st.run), out = [];
    const si = st.stage ? c.stages.indexOf(st.stage) : -1, it = st.iteration === '' ? null : +st.iteration;
    const task = st.task.toLowerCase();
    for (let i = 0; i < c.n; i++) {
      if (si >= 0 && c.stage[i] !== si) continue;
      if (it !== null && c.iteration[i] !== it) continue;
      if (task && !c.tasks[c.task[i]].toLowerCase().includes(task)) continue;
      if (!outcomeOk(c, i, st.outcome)) continue;
      out.push(i);
    }
    return out;
  }

  // An action search needs the episodes' texts: it loads the data files of the episodes the
  // other filters keep (at most SEARCH_CHUNKS of them) and says so when it stopped early.
  async function matching(progress) {
    const base = filter();
    if (!st.q) return base;
    const key = JSON.stringify([st.run, st.stage, st.iteration, st.task, st.outcome, st.q]);
    if (searchMemo.key === key) return searchMemo.list;
    const q = st.q.toLowerCase(), wanted = [...new Set(base.map((i) => Math.floor(i / IDX.chunk)))];
    const read = wanted.slice(0, SEARCH_CHUNKS), out = [];
    for (let k = 0; k < read.length; k++) {
      if (progress) progress(k, read.length);
      await loadChunk(st.run, read[k]);
    }
    const done = new Set(read);
    for (const i of base) {
      if (!done.has(Math.floor(i / IDX.chunk))) continue;
      const e = chunks[st.run + '/' + Math.floor(i / IDX.chunk)][i % IDX.chunk];
      if ((e.steps || []).some((t) => (t.action || '').toLowerCase().includes(q))) out.push(i);
    }
    const note = read.length < wanted.length ? ' (action search read the first ' + read.length * IDX.chunk +
      ' of ' + base.length + ' episodes; narrow the other filters to search them all)' : '';
    searchMemo = { key, list: out, note };
    return out;
  }

  // -- the address: #tab=..&stage=..  or  #ep=ID -----------------------------
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    for (const k of Object.keys(st)) st[k] = p.has(k) ? p.get(k) : (k === 'run' || k === 'page' ? 0 : '');
    st.run = Math.min(+st.run || 0, IDX.runs.length - 1); st.page = +st.page || 0;
    if (st.ep) st.tab = 'episodes';
    if (!st.tab) st.tab = 'overview';
  }
  function hashOf(over) {
    const s = Object.assign({}, st, over), p = new URLSearchParams();
    for (const [k, v] of Object.entries(s)) if (v !== '' && !(k === 'run' && +v === 0) && !(k === 'page' && +v === 0)) p.set(k, v);
    if (s.ep) { p.delete('tab'); }
    return '#' + p.toString();
  }
  const go = (over) => { location.hash = hashOf(over); };

  // -- overview ---------------------------------------------------------------
  function table1() {
    const rows = [];
    IDX.runs.forEach((run) => run.table.forEach((s) => rows.push(el('tr', {},
      IDX.runs.length > 1 ? el('td', {}, run.name) : null, el('td', {}, s.name),
      el('td', { class: 'num' }, pct(s['pass@1']) + ' ± ' + pct(s.stderr)),
      el('td', { class: 'num' }, s['pass@k'] === null || s['pass@k'] === undefined ? '' : pct(s['pass@k']) + ' (k=' + s.k + ')'),
      el('td', { class: 'num' }, s.tasks ? s.tasks + ' × ' + s.runs : '')))));
    if (!rows.length) return el('p', {}, 'No evaluation yet.');
    return el('table', { id: 'table1' }, el('thead', {}, el('tr', {}, IDX.runs.length > 1 ? el('th', {}, 'run') : null,
      el('th', {}, 'stage'), el('th', { class: 'num' }, 'Pass@1 (%) ± s.e.'), el('th', { class: 'num' }, 'Pass@k (%)'),
      el('th', { class: 'num' }, 'tasks × runs'))), el('tbody', {}, rows));
  }
  const CHARTS = [
    ['solve rate', ['solve_rate'], 'dapo'], ['Pass@1 (evaluations)', ['eval/pass@1'], 'eval'],
    ['reward', ['reward_mean'], 'dapo'], ['episode length (turns)', ['episode_len_mean'], 'dapo'],
    ['tokens per episode', ['tokens_mean'], 'dapo'], ['format errors per episode', ['format_errors_mean'], 'dapo'],
    ['clip fractions', ['learner/clip_low_frac', 'learner/clip_high_frac'], 'dapo'],
    ['sampler/learner mismatch', ['learner/mismatch_before_update_mean', 'learner/logprob_diff_mean', 'learner/mismatch_before_update_max'], 'dapo'],
    ['gradient norm', ['learner/grad_norm'], 'dapo'], ['loss', ['learner/loss'], 'dapo'],
    ['time per iteration (s)', ['time/total', 'time/rollouts', 'time/learner', 'time/weight_sync', 'time/grading_summed'], 'dapo'],
    ['zero-advantage samples', ['zero_advantage'], 'dapo'],
  ];
  function chart(title, keys, kind) {
    const series = [];
    IDX.runs.forEach((run, r) => keys.forEach((k, j) => {
      const pts = run.records.filter((x) => (kind === 'eval' ? String(x.stage).startsWith('eval_') : x.stage === 'dapo')
        && typeof x[k] === 'number').map((x) => [x.iteration, x[k]]);
      if (pts.length) series.push({ name: (IDX.runs.length > 1 ? run.name + ' · ' : '') + k, pts, color: COLORS[(r * keys.length + j) % COLORS.length], dash: r ? '5,3' : '' });
    }));
    const W = 360, H = 190, L = 46, R = 8, T = 8, B = 22;
    const box = el('div', { class: 'chart' }, el('h3', {}, title));
    if (!series.length) { box.append(el('p', { class: 'meta' }, 'no data')); return box; }
    const all = series.flatMap((s) => s.pts);
    let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
    const X = (x) => L + (x - x0) / (x1 - x0) * (W - L - R), Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
    const NS = 'http://www.w3.org/2000/svg', svg = document.createElementNS(NS, 'svg');
    const s = (tag, a, text) => { const e = document.createElementNS(NS, tag); for (const k in a) e.setAttribute(k, a[k]); if (text !== undefined) e.textContent = text; svg.append(e); return e; };
    svg.setAttribute('width', W); svg.setAttribute('height', H);
    s('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#999' }); s('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#999' });
    for (const v of [y0, (y0 + y1) / 2, y1]) {
      s('line', { x1: L, y1: Y(v), x2: W - R, y2: Y(v), stroke: '#eee' });
      s('text', { x: L - 4, y: Y(v) + 3, 'text-anchor': 'end' }, Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : +v.toPrecision(4));
    }
    s('text', { x: L, y: H - 6 }, 'iteration ' + x0); s('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, x1);
    for (const sr of series) {
      s('polyline', { points: sr.pts.map((p) => X(p[0]) + ',' + Y(p[1])).join(' '), fill: 'none', stroke: sr.color, 'stroke-width': 1.6, 'stroke-dasharray': sr.dash });
      for (const p of sr.pts) s('circle', { cx: X(p[0]), cy: Y(p[1]), r: 2.2, fill: sr.color }).append(Object.assign(document.createElementNS(NS, 'title'), { textContent: sr.name + ' @' + p[0] + ': ' + p[1] }));
    }
    box.append(svg, el('div', { class: 'legend' }, series.map((sr) => el('span', {}, el('i', { style: 'background:' + sr.color }), sr.name))));
    return box;
  }
  function matrix(run, r) {
    const m = run.matrix;
    if (!m.tasks.length) return el('p', {}, 'No episodes yet.');
    const head = el('tr', {}, el('th', {}, 'task'), m.columns.map((c) => el('th', { class: 'stage' }, c.label)));
    const rows = m.tasks.map((t) => el('tr', {}, el('td', {}, t), m.columns.map((col) => {
      const c = m.cells[t][col.label];
      if (!c) return el('td', {});
      const f = c[0] / c[1];
      return el('td', { style: 'background:hsl(' + Math.round(120 * f) + ',65%,' + (80 - 8 * f) + '%)', title: t + ' in ' + col.label + ': ' + c[0] + '/' + c[1] + ' solved',
        onclick: () => go({ tab: 'episodes', run: r, stage: col.stage, iteration: col.from === col.to ? col.from : '', task: t, outcome: '', q: '', page: 0, ep: '' }) }, c[0] + '/' + c[1]);
    })));
    return el('table', { class: 'matrix' }, el('thead', {}, head), el('tbody', {}, rows));
  }
  function overview() {
    const parts = [el('h2', {}, 'Table 1: Pass@1 ± s.e. and Pass@k per evaluated stage'), table1(),
      el('h2', {}, 'Curves per DAPO iteration' + (IDX.runs.length > 1 ? ' (runs on the same axes; the second run dashed)' : '')),
      el('div', { class: 'charts' }, CHARTS.map((c) => chart(...c))),
      el('h2', {}, 'Tasks × stages: solved episodes / episodes (click a cell for its episodes)')];
    IDX.runs.forEach((run, r) => { if (IDX.runs.length > 1) parts.push(el('h3', {}, run.name)); parts.push(matrix(run, r)); });
    app().replaceChildren(...parts);
  }

  // -- episode list ------------------------------------------------------------
  function select(label, key, options) {
    return el('label', {}, label + ' ', el('select', { 'data-filter': key, onchange: (e) => go({ [key]: e.target.value, page: 0, ep: '' }) },
      options.map(([v, t]) => el('option', Object.assign({ value: v }, String(v) === String(st[key]) ? { selected: '' } : {}), t))));
  }
  function filters() {
    const c = col(st.run), its = [...new Set(c.iteration)].sort((a, b) => a - b);
    const task = el('input', { 'data-filter': 'task', value: st.task, placeholder: 'task contains', size: 22 });
    task.addEventListener('change', (e) => go({ task: e.target.value, page: 0, ep: '' }));
    const q = el('input', { 'data-filter': 'q', value: st.q, placeholder: 'actions contain', size: 22 });
    q.addEventListener('change', (e) => go({ q: e.target.value, page: 0, ep: '' }));
    return el('div', { class: 'filters' },
      IDX.runs.length > 1 ? select('run', 'run', IDX.runs.map((x, i) => [i, x.name])) : null,
      select('stage', 'stage', [['', 'all']].concat(c.stages.map((s) => [s, s]))),
      select('iteration', 'iteration', [['', 'all']].concat(its.map((i) => [i, i]))), task, q,
      select('outcome', 'outcome', [['', 'all'], ['solved', 'solved'], ['unsolved', 'unsolved'], ['format_errors', 'with format errors']]
        .concat(c.terminations.map((t) => [t, 'ended by ' + t]))));
  }
  async function episodes() {
    const token = ++renderToken;
    if (st.q) app().replaceChildren(filters(), el('p', { id: 'count' }, 'searching actions…'));
    const found = await matching((k, n) => { const c = document.getElementById('count'); if (c) c.textContent = 'searching actions: data file ' + (k + 1) + ' of ' + n; });
    if (token !== renderToken) return;
    matches = found;
    const c = col(st.run), pages = Math.max(1, Math.ceil(matches.length / PAGE));
    st.page = Math.min(st.page, pages - 1);
    const from = st.page * PAGE, rows = matches.slice(from, from + PAGE);
    sel = Math.min(sel, Math.max(0, rows.length - 1));
    const body = el('tbody', {}, rows.map((i, k) => {
      const id = epId(st.run, i), a = c.advantage[i];
      return el('tr', { 'data-ep': id, class: k === sel ? 'sel' : null, onclick: () => go({ ep: id }) },
        el('td', {}, el('a', { href: hashOf({ ep: id }) }, id)), el('td', {}, c.tasks[c.task[i]]), el('td', {}, c.stages[c.stage[i]]),
        el('td', { class: 'num' }, c.iteration[i]), el('td', { class: 'num' }, c.group[i]),
        el('td', {}, el('span', { class: 'badge ' + (c.resolved[i] ? 'ok' : 'bad') }, c.resolved[i] ? 'solved' : 'unsolved')),
        el('td', { class: 'num' }, fmt(c.reward[i], 2)), el('td', { class: 'num' }, a === null ? '' : fmt(a, 2)),
        el('td', { class: 'num' }, c.turns[i]), el('td', { class: 'num' }, c.tokens[i]),
        el('td', { class: 'num' }, c.format_errors[i] ? el('span', { class: 'badge fmt' }, c.format_errors[i]) : '0'),
        el('td', {}, c.terminations[c.termination[i]]));
    }));
    const pager = el('div', { class: 'pager' },
      el('button', { disabled: st.page === 0 ? '' : null, onclick: () => go({ page: st.page - 1 }) }, '← previous'),
      el('span', { id: 'count' }, matches.length + ' episodes match; page ' + (st.page + 1) + ' of ' + pages + (st.q ? searchMemo.note : '')),
      el('button', { disabled: st.page >= pages - 1 ? '' : null, onclick: () => go({ page: st.page + 1 }) }, 'next →'));
    const head = el('tr', {}, ['episode', 'task', 'stage', 'iter', 'group', 'outcome', 'reward', 'advantage', 'turns', 'tokens', 'format errors', 'ended by'].map((h) => el('th', {}, h)));
    app().replaceChildren(filters(), pager, el('table', { class: 'list' }, el('thead', {}, head), body));
    document.documentElement.dataset.list = ++listVersion;
  }

  // -- one episode --------------------------------------------------------------
  const failing = (t) => t.format_error || t.timed_out || (t.exit_code !== null && t.exit_code !== undefined && t.exit_code !== 0);
  function diff(patch) {
    return el('pre', { class: 'diff' }, patch.split('\n').map((l) => el('span', {
      class: l.startsWith('+++') || l.startsWith('---') || l.startsWith('diff ') ? 'file' : l.startsWith('@@') ? 'hunk' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : null }, l + '\n')));
  }
  function grading(g) {
    const items = [el('li', {}, 'reason: ', el('b', {}, g.reason || '—'), g.cached ? ' (verdict of an identical patch graded earlier)' : '',
      g.exit_code !== undefined && g.exit_code !== null ? ', test command exit ' + g.exit_code : '', g.seconds ? ', ' + fmt(g.seconds, 1) + ' s' : '')];
    if (g.note) items.push(el('li', {}, 'note: ' + g.note));
    if (g.failed && g.failed.length) items.push(el('li', {}, 'failing tests (' + g.failed_count + '):',
      el('ul', {}, g.failed.map((t) => el('li', {}, el('code', {}, t), g.error_types && g.error_types[t] ? ' — ' + g.error_types[t] : '')))));
    if (g.missing && g.missing.length) items.push(el('li', {}, 'absent from the log (' + g.missing_count + '): ', g.missing.join(', ')));
    return el('ul', { id: 'grading' }, items);
  }
  function turnCard(t, n, id) {
    const lp = t.logprobs || {}, sec = t.seconds || {};
    return el('section', { class: 'turn' + (t.format_error ? ' format-error' : failing(t) ? ' failing' : ''), id: 'turn-' + n },
      el('h4', {}, el('a', { href: hashOf({ ep: id, turn: n }) }, 'Turn ' + n), ' ',
        t.format_error ? el('span', { class: 'badge fmt' }, 'format error') : null,
        t.timed_out ? el('span', { class: 'badge bad' }, 'timed out') : null,
        t.exit_code !== null && t.exit_code !== undefined ? el('span', { class: 'badge ' + (t.exit_code ? 'warn' : '') }, 'exit ' + t.exit_code) : null,
        el('span', { class: 'meta' }, t.action_tokens + ' action tokens, ' + (t.observation_tokens ?? '?') + ' observation tokens; log-prob mean ' + fmt(lp.mean, 2) +
          ', min ' + fmt(lp.min, 2) + ', ' + (lp.low ?? 0) + ' tokens < 10%; sample ' + fmt(sec.sample, 2) + ' s, env ' + fmt(sec.env, 2) + ' s')),
      el('pre', { class: 'action' }, t.action),
      el('details', { open: '' }, el('summary', {}, 'observation (' + t.observation_chars + ' chars as the agent saw them)'), el('pre', { class: 'observation' }, t.observation)));
  }
  function strip(steps) {  // one square per turn: red a format error, orange a failing command
    return el('div', { class: 'strip' }, steps.map((t, k) => el('a', {
      href: '#', class: t.format_error ? 'fmt' : failing(t) ? 'warn' : 'ok', title: 'turn ' + (k + 1) + ': ' + (t.command || (t.format_error ? 'format error' : '')),
      onclick: (ev) => { ev.preventDefault(); document.getElementById('turn-' + (k + 1)).scrollIntoView({ block: 'start' }); } }, k + 1)));
  }
  function searchBox(box) {
    const inp = el('input', { id: 'search', placeholder: 'search this episode (/)', size: 26 });
    const info = el('span', { class: 'meta', id: 'search-info' });
    inp.addEventListener('input', () => {
      box.querySelectorAll('mark').forEach((m) => m.replaceWith(m.textContent));
      box.normalize(); hits = []; hitAt = -1;
      const q = inp.value.toLowerCase();
      if (q.length >= 2) {
        box.querySelectorAll('pre').forEach((pre) => {
          const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT), nodes = [];
          while (walker.nextNode()) nodes.push(walker.currentNode);
          for (const node of nodes) {
            let at = node.data.toLowerCase().indexOf(q), cur = node;
            while (at >= 0) {
              const rest = cur.splitText(at), after = rest.splitText(q.length), m = el('mark', {}, rest.data);
              rest.replaceWith(m); hits.push(m); cur = after; at = cur.data.toLowerCase().indexOf(q);
            }
          }
        });
      }
      info.textContent = q.length >= 2 ? hits.length + ' matches (Enter: next)' : '';
    });
    inp.addEventListener('keydown', (e) => { if (e.key === 'Enter' && hits.length) { jumpHit(); e.preventDefault(); } });
    return [inp, info];
  }
  function jumpHit() {
    if (hitAt >= 0) hits[hitAt].classList.remove('current');
    hitAt = (hitAt + 1) % hits.length; hits[hitAt].classList.add('current');
    hits[hitAt].scrollIntoView({ block: 'center' });
  }
  function firstFailing() {
    const t = document.querySelector('.turn.format-error, .turn.failing');
    if (t) t.scrollIntoView({ block: 'start' });
  }
  async function neighbour(step) {
    matches = await matching();
    const i = findEp(st.ep), at = matches.indexOf(i);
    const j = at < 0 ? -1 : at + step;
    if (j >= 0 && j < matches.length) go({ ep: epId(st.run, matches[j]), turn: '' });
  }
  async function episode() {
    const i = findEp(st.ep);
    if (i < 0) return S.fail('No episode ' + st.ep + ' in this report (it may belong to a later build).');
    const n = Math.floor(i / IDX.chunk), want = st.ep;
    let eps;
    try { eps = await loadChunk(st.run, n); } catch (e) { return S.fail(e.message); }
    if (st.ep !== want) return;
    const e = eps[i % IDX.chunk], steps = e.steps || [];
    const box = el('div', { id: 'turns' }, e.issue ? el('details', {}, el('summary', {}, 'the issue (first message)'), el('pre', { class: 'observation' }, e.issue)) : null,
      steps.length ? steps.map((t, k) => turnCard(t, k + 1, st.ep)) : el('p', { class: 'meta' }, 'This episode line has no readable turns (written before they were recorded).'));
    const adv = e.advantage === null || e.advantage === undefined ? '' : 'advantage ' + fmt(e.advantage, 3);
    const parts = el('div', { class: 'episode', 'data-episode': st.ep },
      el('div', { class: 'bar' }, el('a', { href: hashOf({ ep: '', turn: '', tab: 'episodes' }) }, '← list (Esc)'),
        el('button', { onclick: () => neighbour(-1) }, '↑ previous (k)'), el('button', { onclick: () => neighbour(1) }, '↓ next (j)'),
        el('button', { onclick: firstFailing, disabled: steps.some(failing) ? null : '' }, 'first failing turn (f)'), ...searchBox(box)),
      el('h2', {}, st.ep),
      el('p', {}, el('span', { class: 'badge ' + (e.resolved ? 'ok' : 'bad') }, e.resolved ? 'solved' : 'unsolved'),
        el('span', { class: 'badge' }, 'reward ' + fmt(e.reward, 3)), adv ? el('span', { class: 'badge' }, adv) : null,
        el('span', { class: 'badge' }, 'ended by ' + e.termination), el('span', { class: 'badge' }, e.turns + ' turns'),
        el('span', { class: 'badge' }, e.tokens + ' tokens'), e.format_errors ? el('span', { class: 'badge fmt' }, e.format_errors + ' format errors') : null,
        el('span', { class: 'badge' }, fmt(e.seconds, 1) + ' s'), el('span', { class: 'badge' }, 'policy v' + e.version),
        e.infra_error ? el('span', { class: 'badge bad' }, 'infra: ' + e.infra_error) : null),
      el('h3', {}, 'Grading'), grading(e.grade || {}), el('h3', {}, 'Turns'), strip(steps), box,
      el('h3', {}, 'Patch'), e.patch ? diff(e.patch) : el('p', { class: 'meta' }, 'empty patch'));
    app().replaceChildren(parts);
    if (st.q) { const q = document.getElementById('search'); q.value = st.q; q.dispatchEvent(new Event('input')); }
    if (st.turn) { const t = document.getElementById('turn-' + st.turn); if (t) t.scrollIntoView(); } else window.scrollTo(0, 0);
    document.documentElement.dataset.episode = st.ep;
  }

  function render() {
    readHash();
    document.getElementById('nav-overview').className = st.tab === 'overview' ? 'on' : '';
    document.getElementById('nav-episodes').className = st.tab === 'episodes' ? 'on' : '';
    if (st.ep) return episode();
    if (st.tab === 'episodes') return episodes();
    return overview();
  }
  function keys(e) {
    if (e.target.matches('input, select, textarea') && e.key !== 'Escape') return;
    if (e.key === 'Escape') { if (document.activeElement) document.activeElement.blur(); if (st.ep) go({ ep: '', turn: '', tab: 'episodes' }); return; }
    if (st.ep) {
      if (e.key === 'j') neighbour(1); else if (e.key === 'k') neighbour(-1); else if (e.key === 'f') firstFailing();
      else if (e.key === '/') { e.preventDefault(); document.getElementById('search').focus(); }
      else if (e.key === 'o') document.querySelectorAll('.turn details').forEach((d) => { d.open = !d.open; });
    } else if (st.tab === 'episodes') {
      const rows = document.querySelectorAll('.list tbody tr');
      if (!rows.length) return;
      if (e.key === 'j' || e.key === 'k') {
        rows[sel].classList.remove('sel'); sel = Math.max(0, Math.min(rows.length - 1, sel + (e.key === 'j' ? 1 : -1)));
        rows[sel].classList.add('sel'); rows[sel].scrollIntoView({ block: 'nearest' });
      } else if (e.key === 'Enter') { e.preventDefault(); go({ ep: rows[sel].dataset.ep }); }
    }
  }
  S.index = function (d) {
    IDX = d;
    document.getElementById('generated').textContent = 'written ' + d.generated + ' · ' + d.runs.map((r) => r.name + ': ' + r.episodes.n + ' episodes').join(', ');
    window.addEventListener('hashchange', render);
    document.addEventListener('keydown', keys);
    Promise.resolve(render()).then(() => { document.documentElement.dataset.ready = '1'; });
  };
})();

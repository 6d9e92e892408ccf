// Dancer dashboard: the pages. Each page fetches its data from /api and fetches again whenever
// `version` changes (a server-sent event arrived), so it updates without a reload.
import { html, useEffect, useRef, useState } from '/vendor/htm-preact.js';
import uPlot from '/vendor/uPlot.js';

/** The token and the actor name, kept in this browser. */
export const session = {
  get token() {
    return localStorage.getItem('dancer-token') ?? '';
  },
  set token(v) {
    localStorage.setItem('dancer-token', v);
  },
  get actor() {
    return localStorage.getItem('dancer-actor') || 'dashboard';
  },
  set actor(v) {
    localStorage.setItem('dancer-actor', v);
  },
};

async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${r.status}`);
  return body;
}

async function postAction(url, body = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
    body: JSON.stringify({ ...body, by: session.actor }),
  });
  const answer = await r.json();
  if (!r.ok) throw new Error(answer.error ? `${answer.error.code}: ${answer.error.message}` : `HTTP ${r.status}`);
  return answer;
}

/** Fetch `url` now and whenever `version` changes. */
function useApi(url, version) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    let live = true;
    if (!url) return undefined;
    getJson(url)
      .then((data) => live && setState({ data, error: null }))
      .catch((error) => live && setState((s) => ({ data: s.data, error: error.message })));
    return () => {
      live = false;
    };
  }, [url, version]);
  return state;
}

const when = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-');
const sha = (s) => (!s ? '-' : /^[0-9a-f]{40,64}$/.test(s) ? s.slice(0, 12) : s);
const money = (n) => (n === null || n === undefined ? '-' : `$${Number(n).toFixed(4)}`);
const num = (n, d = 2) => (n === null || n === undefined ? '-' : Number(n).toFixed(d));
const State = ({ s }) => html`<span class=${`state ${s}`}>${s}</span>`;
const Err = ({ error }) => (error ? html`<div class="msg error">${error}</div>` : '');
const Loading = () => html`<p class="loading">Loading…</p>`;

function Spark({ values, width = 120, height = 22 }) {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * (height - 2) - 1).toFixed(1)}`);
  return html`<svg class="spark" width=${width} height=${height}><polyline fill="none" stroke="currentColor" stroke-width="1.2" points=${pts.join(' ')} /></svg>`;
}

/** A uPlot chart; series: [{ label, values }], x in ms. */
function Chart({ x, series, height = 180 }) {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current) return undefined;
    const colors = ['#1f5fa8', '#b3261e', '#1e7f4f', '#a86400'];
    const plot = new uPlot(
      {
        width: ref.current.clientWidth || 600,
        height,
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 1.5 }))],
        axes: [{}, {}],
      },
      [x.map((t) => t / 1000), ...series.map((s) => s.values)],
      ref.current,
    );
    return () => plot.destroy();
  }, [JSON.stringify([x, series.map((s) => s.values)])]);
  return html`<div class="chart" ref=${ref}></div>`;
}

function BeforeAfter({ before, after }) {
  if (!before && !after) return html`<span class="muted">no figures yet</span>`;
  const rows = [
    ['error rate', 'errorRate', '/min', 2],
    ['target pattern', 'patternRate', '/min', 2],
    ['p95 latency', 'p95Ms', ' ms', 1],
    ['RSS', 'memMb', ' MiB', 1],
  ].filter(([, k]) => before?.[k] !== undefined || after?.[k] !== undefined);
  return html`<table class="before-after">
    <tr><th></th><th>before</th><th>after</th></tr>
    ${rows.map(
      ([label, k, unit, d]) =>
        html`<tr><td>${label}</td><td class="num">${before?.[k] === undefined ? '-' : `${num(before[k], d)}${unit}`}</td><td class="num">${after?.[k] === undefined ? '-' : `${num(after[k], d)}${unit}`}</td></tr>`,
    )}
  </table>`;
}

/** Action button: asks for the token when none is kept, shows the answer. */
function ActionButton({ label, url, body, cls = '', confirmText, ask, onDone }) {
  const [busy, setBusy] = useState(false);
  const click = async () => {
    if (confirmText && !confirm(confirmText)) return;
    let extra = {};
    if (ask) {
      const reason = prompt(ask);
      if (reason === null) return;
      extra = { reason };
    }
    setBusy(true);
    try {
      const answer = await postAction(url, { ...body, ...extra });
      onDone?.({ ok: true, message: answer.message });
    } catch (error) {
      onDone?.({ ok: false, message: error.message });
    } finally {
      setBusy(false);
    }
  };
  return html`<button class=${cls} disabled=${busy} onClick=${click} data-action=${label.toLowerCase()}>${label}</button>`;
}

function TokenBox({ readOnly }) {
  const [token, setToken] = useState(session.token);
  const [actor, setActor] = useState(session.actor);
  if (readOnly) return html`<span class="muted">Read-only dashboard (no token configured).</span>`;
  return html`<span class="token-box">
    <input id="token" type="password" placeholder="bearer token" value=${token}
      onInput=${(e) => {
        setToken(e.target.value);
        session.token = e.target.value;
      }} />
    <input id="actor" placeholder="your name" size="12" value=${actor}
      onInput=${(e) => {
        setActor(e.target.value);
        session.actor = e.target.value;
      }} />
  </span>`;
}

export function Overview({ status }) {
  const [msg, setMsg] = useState(null);
  if (!status) return html`<${Loading} />`;
  const t = status.traffic;
  const obs = status.observing;
  const stopped = status.emergencyStop?.engaged;
  return html`
    <h1>Overview</h1>
    <div class="grid">
      <div class="card"><div class="label">Service</div><div class="value" id="service-state">${status.service}: ${status.state}</div>
        <div class="muted">${status.running ? `supervisor ${status.supervisorPid}, up ${status.uptimeSeconds}s` : 'supervisor not running'} · restarts ${status.restarts}</div></div>
      <div class="card"><div class="label">Release</div><div class="value mono">${status.currentRelease ? html`<a href=${`#/releases/${status.currentRelease}`}>${sha(status.currentRelease)}</a>` : '-'}</div>
        <div class="muted">previous ${sha(status.previousRelease)} · last good ${sha(status.lastGoodRelease)}</div></div>
      <div class="card"><div class="label">Workers</div>
        ${status.workers.length ? status.workers.map((w) => html`<div class="mono">${w.pid} ${w.role} ${sha(w.release)}</div>`) : html`<div class="muted">none</div>`}
        ${status.metrics ? html`<div class="muted">${num(status.metrics.rssBytes / 1048576, 1)} MiB RSS · ${num(status.metrics.cpuPercent, 1)}% CPU</div>` : ''}</div>
      <div class="card"><div class="label">Open fixes</div><div class="value" id="open-fixes">${status.openFixes.length}</div>
        ${status.openFixes.slice(0, 5).map((f) => html`<div><a href=${`#/fixes/${f.id}`}>#${f.id}</a> <${State} s=${f.state} /></div>`)}</div>
    </div>
    <h2>Deploy under observation</h2>
    ${
      obs
        ? html`<div class="card" id="observing">Deploy #${obs.id} ${obs.kind} of <span class="mono">${sha(obs.toRelease)}</span> <${State} s=${obs.status} />
          ${obs.fixId ? html` · fix <a href=${`#/fixes/${obs.fixId}`}>#${obs.fixId}</a>` : ''}
          ${obs.windowEndsAt ? html` · window ends ${when(obs.windowEndsAt)}` : ''}
          ${
            obs.readyAt && obs.windowEndsAt && obs.status === 'observing'
              ? html`<div class="muted">observation
                <progress id="window-progress" max="1" value=${Math.min(1, Math.max(0, (status.now - obs.readyAt) / Math.max(1, obs.windowEndsAt - obs.readyAt)))}></progress>
                ${status.running ? '' : ' (the supervisor is not running: the verdict waits for it)'}</div>`
              : ''
          }
          ${obs.reasons.length ? html`<div class="muted">${obs.reasons.join('; ')}</div>` : ''}
          <div><${BeforeAfter} before=${obs.before} after=${obs.after} /></div></div>`
        : html`<p class="muted">None.</p>`
    }
    <h2>Traffic (last hour, per minute)</h2>
    <div class="card"><${Chart} x=${t.minutes} series=${[{ label: 'records', values: t.records }, { label: 'errors', values: t.errors }]} /></div>
    <h2>Recent deploys</h2>
    <table id="deploys"><tr><th>#</th><th>kind</th><th>release</th><th>status</th><th>fix</th><th>started</th><th>before → after</th></tr>
      ${status.deploys.map(
        (
          d,
        ) => html`<tr><td>${d.id}</td><td>${d.kind}</td><td class="mono"><a href=${`#/releases/${d.toRelease}`}>${sha(d.toRelease)}</a></td><td><${State} s=${d.status} /></td>
          <td>${d.fixId ? html`<a href=${`#/fixes/${d.fixId}`}>#${d.fixId}</a>` : '-'}</td><td>${when(d.startedAt)}</td>
          <td>${d.before ? html`<${BeforeAfter} before=${d.before} after=${d.after} />` : '-'}</td></tr>`,
      )}
    </table>
    <h2>Recent decisions</h2>
    <table><tr><th>at</th><th>rule</th><th>outcome</th><th>pattern</th><th>reason</th></tr>
      ${status.decisions.map(
        (d) => html`<tr><td>${when(d.at)}</td><td>${d.rule}</td><td><${State} s=${d.outcome} /></td>
          <td>${d.templateId ? html`<a href=${`#/patterns/${d.templateId}`}>${d.templateId}</a>` : '-'}</td><td>${d.reason}</td></tr>`,
      )}
    </table>
    <h2>Controls</h2>
    <div class="actions">
      <${TokenBox} readOnly=${status.readOnly} />
      ${
        stopped
          ? html`<${ActionButton} label="Resume" url="/api/resume" cls="primary" onDone=${setMsg} />`
          : html`<${ActionButton} label="Stop" url="/api/stop" cls="danger" ask="Emergency stop: why?" onDone=${setMsg} />`
      }
      ${status.readOnly ? '' : html`<${ActionButton} label="Rollback" url="/api/rollback" confirmText="Roll back to the previous release?" onDone=${setMsg} />`}
    </div>
    ${msg ? html`<div class=${`msg ${msg.ok ? '' : 'error'}`} id="action-result">${msg.message}</div>` : ''}
  `;
}

export function Patterns({ version }) {
  const { data, error } = useApi('/api/patterns', version);
  if (!data) return html`<${Err} error=${error} /><${Loading} />`;
  return html`<h1>Patterns</h1><${Err} error=${error} />
    <table id="patterns"><tr><th>id</th><th>pattern</th><th>count</th><th>last hour</th><th>status</th><th>last decision</th><th>fixes</th></tr>
      ${data.map(
        (
          p,
        ) => html`<tr><td><a href=${`#/patterns/${p.id}`}>${p.id}</a></td><td class="mono">${p.text}</td><td class="num">${p.count}</td>
          <td><${Spark} values=${p.trend} /></td><td><${State} s=${p.status} /></td>
          <td>${p.lastDecision ? html`<${State} s=${p.lastDecision.outcome} /> ${p.lastDecision.reason}` : '-'}</td>
          <td>${p.fixes.map((f) => html`<a href=${`#/fixes/${f.id}`}>#${f.id}</a> `)}</td></tr>`,
      )}
    </table>`;
}

export function Pattern({ params, version }) {
  const { data, error } = useApi(`/api/patterns/${params[0]}`, version);
  if (!data) return html`<${Err} error=${error} /><${Loading} />`;
  const x = data.trend.counts.map((_, i) => data.trend.from + i * data.trend.stepMs);
  return html`<h1>Pattern ${data.id} <${State} s=${data.status} /></h1>
    <pre>${data.text}</pre>
    <div class="muted">${data.count} seen · first ${when(data.firstSeen)} · last ${when(data.lastSeen)}</div>
    <h2>Trend (24 h, per minute)</h2><div class="card"><${Chart} x=${x} series=${[{ label: 'count', values: data.trend.counts }]} /></div>
    <h2>Provenance: consultations and fixes</h2>
    <table><tr><th>fix</th><th>state</th><th>summary</th><th>consultation</th><th>release</th></tr>
      ${data.fixes.map(
        (
          f,
        ) => html`<tr><td><a href=${`#/fixes/${f.id}`}>#${f.id}</a></td><td><${State} s=${f.state} /></td><td>${f.summary ?? ''}</td>
          <td>${f.consultationId ? html`<a href=${`#/consultations/${f.consultationId}`}>${f.consultationId}</a>` : '-'}</td>
          <td class="mono">${f.release ? html`<a href=${`#/releases/${f.release}`}>${sha(f.release)}</a>` : '-'}</td></tr>`,
      )}
    </table>
    <h2>Decisions</h2>
    <table><tr><th>at</th><th>rule</th><th>outcome</th><th>reason</th></tr>
      ${data.decisions.map((d) => html`<tr><td>${when(d.at)}</td><td>${d.rule}</td><td><${State} s=${d.outcome} /></td><td>${d.reason}</td></tr>`)}
    </table>
    <h2>Examples</h2>
    ${data.examples.map((e) => html`<pre>${when(e.ts)}  ${e.message}</pre>`)}`;
}

export function Fixes({ version }) {
  const { data, error } = useApi('/api/fixes', version);
  if (!data) return html`<${Err} error=${error} /><${Loading} />`;
  return html`<h1>Fixes</h1>
    <table id="fixes"><tr><th>id</th><th>state</th><th>created</th><th>pattern</th><th>risk</th><th>cost</th><th>summary</th></tr>
      ${data.map(
        (
          f,
        ) => html`<tr><td><a href=${`#/fixes/${f.id}`}>#${f.id}</a></td><td><${State} s=${f.state} /></td><td>${when(f.createdAt)}</td>
          <td><a href=${`#/patterns/${f.patternId}`}>${f.patternId}</a></td><td>${f.risk ?? '-'}</td><td class="num">${money(f.costUsd)}</td><td>${f.summary ?? f.reason ?? ''}</td></tr>`,
      )}
    </table>`;
}

function Diff({ text }) {
  if (!text) return html`<p class="muted">No diff (no commits yet, or the repository is not known here).</p>`;
  return html`<pre class="diff" id="diff">${text.split('\n').map((l) => {
    const cls = l.startsWith('diff --git')
      ? 'file'
      : l.startsWith('@@')
        ? 'hunk'
        : l.startsWith('+') && !l.startsWith('+++')
          ? 'add'
          : l.startsWith('-') && !l.startsWith('---')
            ? 'del'
            : '';
    return html`<span class=${`line ${cls}`}>${l || ' '}</span>`;
  })}</pre>`;
}

function Chain({ p }) {
  return html`<div class="chain" id="provenance">
    <span class="node">pattern <a href=${`#/patterns/${p.pattern.id}`}>${p.pattern.id}</a></span><span class="arrow">→</span>
    <span class="node">${p.consultation ? html`consultation <a href=${`#/consultations/${p.consultation.id}`}>${p.consultation.id}</a> ${money(p.consultation.costUsd)}` : 'no consultation'}</span><span class="arrow">→</span>
    <span class="node">fix #${p.fix.id} <${State} s=${p.fix.state} /></span><span class="arrow">→</span>
    <span class="node mono">${p.git.branch ?? 'no branch'}</span><span class="arrow">→</span>
    <span class="node mono">${p.release ? html`release <a href=${`#/releases/${p.release}`}>${sha(p.release)}</a>` : 'not merged'}</span>
    ${p.deploys.map((d) => html`<span class="arrow">→</span><span class="node">deploy #${d.id} <${State} s=${d.status} /></span>`)}
  </div>`;
}

export function Fix({ params, version, status }) {
  const { data, error } = useApi(`/api/fixes/${params[0]}`, version);
  const [msg, setMsg] = useState(null);
  if (!data) return html`<${Err} error=${error} /><${Loading} />`;
  const f = data.fix;
  const id = f.id;
  return html`<h1>Fix #${id} <span id="fix-state"><${State} s=${f.state} /></span></h1>
    <${Err} error=${error} />
    <p>${f.summary ?? ''}</p>
    ${f.rootCause ? html`<p><b>Root cause.</b> ${f.rootCause}</p>` : ''}
    ${f.analysis ? html`<p><b>Analysis.</b> ${f.analysis}</p>` : ''}
    <div class="muted">risk ${f.risk ?? '-'} · cost ${money(f.costUsd)} · ${f.filesChanged ?? '-'} files, ${f.linesChanged ?? '-'} lines · created ${when(f.createdAt)}</div>
    <div class="actions">
      <${TokenBox} readOnly=${status?.readOnly} />
      ${
        status?.readOnly
          ? ''
          : html`${f.state === 'awaiting_approval' ? html`<${ActionButton} label="Approve" url=${`/api/fixes/${id}/approve`} cls="primary" onDone=${setMsg} />` : ''}
      ${['proposed', 'testing', 'awaiting_approval', 'approved'].includes(f.state) ? html`<${ActionButton} label="Reject" url=${`/api/fixes/${id}/reject`} cls="danger" ask="Why reject?" onDone=${setMsg} />` : ''}
      ${['failed', 'rejected', 'rolled_back', 'superseded', 'deployed'].includes(f.state) ? html`<${ActionButton} label="Retry" url=${`/api/fixes/${id}/retry`} ask="What should the next attempt do differently?" onDone=${setMsg} />` : ''}
      ${['observing', 'deployed'].includes(f.state) ? html`<${ActionButton} label="Rollback" url="/api/rollback" body=${{ fixId: id }} confirmText=${`Roll back fix ${id}?`} onDone=${setMsg} />` : ''}`
      }
    </div>
    ${msg ? html`<div class=${`msg ${msg.ok ? '' : 'error'}`} id="action-result">${msg.message}</div>` : ''}
    <h2>Provenance</h2><${Chain} p=${data.provenance} />
    <h2>Timeline</h2>
    <ul class="timeline" id="timeline">${data.events.map(
      (e) =>
        html`<li>${when(e.ts)} · ${e.fromState ?? 'new'} → <${State} s=${e.toState} /> · ${e.actor}${e.reason ? html`: <span class="muted">${e.reason}</span>` : ''}</li>`,
    )}</ul>
    <h2>Policy</h2>
    ${data.policy ? html`<div class="card"><${State} s=${data.policy.ok ? 'ok' : 'failed'} /> ${data.policy.reason}</div>` : html`<p class="muted">Not checked yet.</p>`}
    <h2>Gate</h2>
    <table id="gate"><tr><th>round</th><th>step</th><th>result</th><th>time</th><th>command</th></tr>
      ${data.gateSteps.map(
        (
          s,
        ) => html`<tr><td>${s.round}</td><td>${s.name}</td><td><${State} s=${s.ok ? 'ok' : 'failed'} /></td><td class="num">${num(s.durationMs / 1000, 1)} s</td>
          <td class="mono">${s.command}${s.outputTail ? html`<details><summary>output</summary><pre>${s.outputTail}</pre></details>` : ''}</td></tr>`,
      )}
    </table>
    <h2>Diff</h2><${Diff} text=${data.diff} />
    <h2>Deploys</h2>
    <table><tr><th>#</th><th>kind</th><th>release</th><th>status</th><th>verdict</th><th>before → after</th></tr>
      ${data.deploys.map(
        (
          d,
        ) => html`<tr><td>${d.id}</td><td>${d.kind}</td><td class="mono">${sha(d.toRelease)}</td><td><${State} s=${d.status} /></td><td>${d.verdict ?? '-'} ${d.reasons.join('; ')}</td>
          <td><${BeforeAfter} before=${d.before} after=${d.after} /></td></tr>`,
      )}
    </table>
    <h2>Consultation</h2>
    ${data.consultationId ? html`<${Transcript} id=${data.consultationId} version=${version} />` : html`<p class="muted">None recorded.</p>`}`;
}

function Transcript({ id, version }) {
  const { data, error } = useApi(`/api/consultations/${id}`, version);
  if (!data) return html`<${Err} error=${error} /><${Loading} />`;
  return html`<div class="muted">Consultation <a href=${`#/consultations/${id}`}>${id}</a>: ${data.status}${data.outcomeKind ? `, outcome ${data.outcomeKind}` : ''} · ${data.model ?? ''} ·
      ${money(data.ledger?.costUsd)} · ${data.ledger?.turns ?? '-'} turns · ${data.ledger ? `${data.ledger.inputTokens} in / ${data.ledger.outputTokens} out tokens` : ''}</div>
    <div class="transcript" id="transcript">${data.transcript.map(
      (m) =>
        html`<div class=${`entry ${m.role}`}><div class="role">${m.seq} · ${m.role} · ${when(m.ts)}</div>${m.text ? html`<pre>${m.text}</pre>` : ''}</div>`,
    )}</div>`;
}

export function Consultation({ params, version }) {
  const { data, error } = useApi(`/api/consultations/${params[0]}`, version);
  if (!data) return html`<${Err} error=${error} /><${Loading} />`;
  return html`<h1>Consultation ${data.id} <${State} s=${data.status} /></h1>
    <div class="chain">
      <span class="node">${data.templateId ? html`pattern <a href=${`#/patterns/${data.templateId}`}>${data.templateId}</a>` : 'no pattern'}</span><span class="arrow">→</span>
      <span class="node">consultation ${data.id} (${data.triggerKind ?? '-'})</span><span class="arrow">→</span>
      ${data.fixes.length ? data.fixes.map((f) => html`<span class="node">fix <a href=${`#/fixes/${f.id}`}>#${f.id}</a> <${State} s=${f.state} /> ${f.release ? html`→ <a href=${`#/releases/${f.release}`}>${sha(f.release)}</a>` : ''}</span>`) : html`<span class="node">no fix</span>`}
    </div>
    <h2>Brief</h2><details><summary>the prompt as sent (redacted)</summary><pre>${data.brief}</pre></details>
    <h2>Transcript</h2><${Transcript} id=${data.id} version=${version} />`;
}

export function Release({ params, version }) {
  const { data, error } = useApi(`/api/fixes?release=${params[0]}`, version);
  if (!data) return html`<${Err} error=${error} /><${Loading} />`;
  const fix = data[0];
  return html`<h1>Release <span class="mono">${sha(params[0])}</span></h1>
    ${
      fix
        ? html`<p>Made by fix <a href=${`#/fixes/${fix.id}`}>#${fix.id}</a> <${State} s=${fix.state} />: ${fix.summary ?? ''}</p><${FixChain} id=${fix.id} version=${version} />`
        : html`<p class="muted">No fix made this release (a human commit, or the first release).</p>`
    }`;
}

function FixChain({ id, version }) {
  const { data } = useApi(`/api/fixes/${id}`, version);
  return data ? html`<${Chain} p=${data.provenance} />` : html`<${Loading} />`;
}

export function Audit({ version }) {
  const [filters, setFilters] = useState({ actor: '', action: '', source: '', outcome: '' });
  const qs = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();
  const { data, error } = useApi(`/api/audit${qs ? `?${qs}` : ''}`, version);
  const set = (k) => (e) => setFilters({ ...filters, [k]: e.target.value });
  return html`<h1>Audit log</h1>
    <div class="filters">
      <input id="audit-actor" placeholder="actor" value=${filters.actor} onInput=${set('actor')} />
      <input id="audit-action" placeholder="action (approve, stop, …)" value=${filters.action} onInput=${set('action')} />
      <select id="audit-source" onChange=${set('source')}>
        ${['', 'dashboard', 'cli', 'zulip-command', 'zulip-reaction', 'system'].map((s) => html`<option value=${s} selected=${filters.source === s}>${s || 'any source'}</option>`)}
      </select>
      <select id="audit-outcome" onChange=${set('outcome')}>
        ${['', 'ok', 'refused', 'failed', 'invalid'].map((s) => html`<option value=${s} selected=${filters.outcome === s}>${s || 'any outcome'}</option>`)}
      </select>
    </div>
    <${Err} error=${error} />
    ${
      data
        ? html`<table id="audit"><tr><th>at</th><th>actor</th><th>source</th><th>action</th><th>target</th><th>outcome</th><th>detail</th></tr>
          ${data.map((a) => html`<tr><td>${when(a.ts)}</td><td>${a.actor}</td><td>${a.source}</td><td>${a.action}</td><td>${a.target ?? ''}</td><td><${State} s=${a.outcome} /></td><td>${a.detail}</td></tr>`)}
        </table>`
        : html`<${Loading} />`
    }`;
}

export function Logs({ version }) {
  const [query, setQuery] = useState('');
  const [submitted, setSubmitted] = useState('');
  const { data, error } = useApi(submitted ? `/api/logs?q=${encodeURIComponent(submitted)}` : null, version);
  const levels = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
  return html`<h1>Log search</h1>
    <form class="filters" onSubmit=${(e) => {
      e.preventDefault();
      setSubmitted(query);
    }}>
      <input id="log-query" size="50" placeholder='words, "a phrase", prefix*, AND/OR/NOT' value=${query} onInput=${(e) => setQuery(e.target.value)} />
      <button type="submit">Search</button>
    </form>
    <${Err} error=${error} />
    ${
      data
        ? html`<table id="logs"><tr><th>time</th><th>level</th><th>×</th><th>message</th><th>pattern</th></tr>
        ${data.map(
          (r) => html`<tr><td>${when(r.ts)}</td><td>${levels[r.level] ?? r.level}</td><td class="num">${r.count}</td>
          <td class="mono">${r.message}${r.errMessage ? html`<div class="muted">${r.errType ?? ''} ${r.errMessage}</div>` : ''}</td>
          <td>${r.templateId ? html`<a href=${`#/patterns/${r.templateId}`}>${r.templateId}</a>` : ''}</td></tr>`,
        )}
      </table>`
        : ''
    }`;
}

/** The fleet (only with a `fleet:` section): what `dancer fleet status` shows, refreshed every 2 s. */
export function Fleet({ version }) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), 2000);
    return () => clearInterval(timer);
  }, []);
  const { data, error } = useApi('/api/fleet', `${version}:${tick}`);
  if (!data) return html`<${Err} error=${error} /><${Loading} />`;
  const names = data.hosts.map((h) => h.name);
  const alive = data.hosts.filter((h) => h.alive).length;
  return html`<h1>Fleet</h1><${Err} error=${error} />
    ${
      data.stop
        ? html`<div class="stop-banner" id="fleet-stop">Fleet-wide emergency stop engaged by ${data.stop.actor}: ${data.stop.reason}</div>`
        : html`<p id="fleet-stop-off">No fleet-wide stop.</p>`
    }
    <h2>Hosts (${alive}/${data.hosts.length} alive)</h2>
    <table id="fleet-hosts"><tr><th>host</th><th>state</th><th>heartbeat</th><th>release</th></tr>
      ${data.hosts.map(
        (h) => html`<tr data-host=${h.name}><td>${h.name}</td>
          <td><${State} s=${h.alive ? h.state : h.state === 'up' ? 'unreachable' : h.state} /></td>
          <td class="num">${Math.round(h.heartbeatAgeSeconds)}s ago</td><td class="mono">${sha(h.release)}</td></tr>`,
      )}
    </table>
    <h2>Patterns (last ${data.windowMinutes} min, per host)</h2>
    ${
      data.patterns.length === 0
        ? html`<p>(none)</p>`
        : html`<table id="fleet-patterns"><tr><th>id</th><th>total</th>${names.map((n) => html`<th>${n}</th>`)}<th>status</th><th>pattern</th></tr>
      ${data.patterns.map(
        (p) => html`<tr data-pattern=${p.id}><td>${p.id}</td><td class="num">${p.total}</td>
          ${names.map((n) => html`<td class="num" data-host=${n}>${p.hosts[n] ?? 0}</td>`)}
          <td><${State} s=${p.status} /></td><td class="mono">${p.text}</td></tr>`,
      )}</table>`
    }
    <h2>Fixes (deploy state per host)</h2>
    ${
      data.fixes.length === 0
        ? html`<p>(none)</p>`
        : html`<table id="fleet-fixes"><tr><th>fix</th><th>pattern</th><th>state</th>${names.map((n) => html`<th>${n}</th>`)}<th>branch</th></tr>
      ${data.fixes.map(
        (f) => html`<tr data-fix=${f.id}><td>${f.id}</td><td>${f.patternKey}</td><td><${State} s=${f.state} /></td>
          ${names.map((n) => {
            const d = f.deploys.find((x) => x.host === n);
            return html`<td data-host=${n}>${d ? html`<${State} s=${d.state} />${d.wave === 0 ? ' (canary)' : ''}` : '-'}</td>`;
          })}
          <td class="mono">${f.branch}</td></tr>`,
      )}</table>`
    }
    ${
      data.leases.length > 0
        ? html`<h2>Leases</h2><table id="fleet-leases"><tr><th>pattern</th><th>holder</th><th>stage</th><th>expires</th></tr>
      ${data.leases.map(
        (l) => html`<tr><td>${l.patternKey}</td><td>${l.holder ?? '-'}</td><td>${l.stage}</td>
          <td>${l.expiresInSeconds > 0 ? `in ${l.expiresInSeconds}s` : 'expired'}</td></tr>`,
      )}</table>`
        : ''
    }`;
}

export function NotFound() {
  return html`<h1>Not found</h1><p><a href="#/">Overview</a></p>`;
}

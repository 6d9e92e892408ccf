// Dancer dashboard: the shell (routing, live updates over server-sent events, the token).
// Plain ES modules: htm + Preact and uPlot are served from node_modules; there is no build step.
import { html, render, useEffect, useState } from '/vendor/htm-preact.js';
import * as views from '/views.js';

const ROUTES = [
  [/^#?\/?$/, views.Overview, 'overview'],
  [/^#\/patterns$/, views.Patterns, 'patterns'],
  [/^#\/patterns\/(\d+)$/, views.Pattern, 'patterns'],
  [/^#\/fixes$/, views.Fixes, 'fixes'],
  [/^#\/fixes\/(\d+)$/, views.Fix, 'fixes'],
  [/^#\/consultations\/(\d+)$/, views.Consultation, 'fixes'],
  [/^#\/releases\/([0-9a-f]+)$/, views.Release, 'overview'],
  [/^#\/audit$/, views.Audit, 'audit'],
  [/^#\/logs$/, views.Logs, 'logs'],
  [/^#\/fleet$/, views.Fleet, 'fleet'],
];

function route(hash) {
  for (const [re, view, tab] of ROUTES) {
    const m = re.exec(hash.split('?')[0]);
    if (m) return { view, tab, params: m.slice(1) };
  }
  return { view: views.NotFound, tab: '', params: [] };
}

function App() {
  const [hash, setHash] = useState(location.hash);
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState(false);
  const [last, setLast] = useState(null);
  const [status, setStatus] = useState(null);

  useEffect(() => {
    const onHash = () => setHash(location.hash);
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    // One EventSource for the page; every change refreshes what is on screen (debounced).
    const es = new EventSource('/api/events');
    let timer;
    const bump = (e) => {
      setLast({ type: e.type, data: JSON.parse(e.data) });
      clearTimeout(timer);
      timer = setTimeout(() => setVersion((v) => v + 1), 120);
    };
    for (const t of ['fix_state', 'deploy', 'rollback', 'decision', 'stop', 'resume', 'audit'])
      es.addEventListener(t, bump);
    es.addEventListener('hello', () => setLive(true));
    es.onerror = () => setLive(false);
    es.onopen = () => setLive(true);
    return () => es.close();
  }, []);

  useEffect(() => {
    fetch('/api/status')
      .then((r) => r.json())
      .then(setStatus)
      .catch(() => undefined);
  }, [version]);

  const { view: View, tab, params } = route(hash || '#/');
  const stop = status?.emergencyStop;
  return html`
    <header>
      <span class="brand">Dancer${status ? html` · ${status.service}` : ''}</span>
      <nav>
        <a href="#/" class=${tab === 'overview' ? 'active' : ''}>Overview</a>
        <a href="#/patterns" class=${tab === 'patterns' ? 'active' : ''}>Patterns</a>
        <a href="#/fixes" class=${tab === 'fixes' ? 'active' : ''}>Fixes</a>
        <a href="#/audit" class=${tab === 'audit' ? 'active' : ''}>Audit</a>
        <a href="#/logs" class=${tab === 'logs' ? 'active' : ''}>Logs</a>
        ${status?.fleet ? html`<a href="#/fleet" id="nav-fleet" class=${tab === 'fleet' ? 'active' : ''}>Fleet</a>` : ''}
      </nav>
      <span class=${`live ${live ? 'on' : 'off'}`} id="live" title=${last ? `last event: ${last.type}` : ''}>
        ${live ? 'live' : 'reconnecting'}${last ? ` · ${last.type}` : ''}
      </span>
    </header>
    ${
      stop?.engaged
        ? html`<div class="stop-banner" id="stop-banner">
          Emergency stop engaged by ${stop.setBy ?? 'unknown'}${stop.reason ? `: ${stop.reason}` : ''}
        </div>`
        : ''
    }
    <main><${View} params=${params} version=${version} status=${status} /></main>
  `;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);

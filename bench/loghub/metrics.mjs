// GA, PA, FGA and FTA as ../shared/tools/loghub-eval.py computes them (grouping by predicted
// group id), for the in-process leave-one-system-out runs. run.mjs scores with the Python
// evaluator itself; this port is checked against it there (same figures on every system).

const f1 = (p, r) => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

/**
 * @param {{ group: string, template: string }[]} truth one entry per line
 * @param {{ group: string|number, template: string }[]} pred one entry per line
 */
export function score(truth, pred) {
  const n = truth.length;
  const trueGroups = new Map();
  const predGroups = new Map();
  for (let i = 0; i < n; i++) {
    const t = truth[i].group;
    const p = pred[i].group;
    if (!trueGroups.has(t)) trueGroups.set(t, []);
    trueGroups.get(t).push(i);
    if (!predGroups.has(p)) predGroups.set(p, []);
    predGroups.get(p).push(i);
  }
  let gaLines = 0;
  let exact = 0;
  for (const members of trueGroups.values()) {
    const pm = predGroups.get(pred[members[0]].group);
    if (pm.length !== members.length) continue;
    const tg = truth[members[0]].group;
    if (pm.every((i) => truth[i].group === tg)) {
      exact++;
      gaLines += members.length;
    }
  }
  let pa = 0;
  for (let i = 0; i < n; i++) if (pred[i].template === truth[i].template) pa++;
  const byTemplate = new Map();
  for (let i = 0; i < n; i++) {
    const t = pred[i].template;
    if (!byTemplate.has(t)) byTemplate.set(t, new Set());
    byTemplate.get(t).add(truth[i].template);
  }
  let correct = 0;
  for (const [t, trues] of byTemplate) if (trues.size === 1 && trues.has(t)) correct++;
  const distinctTrue = new Set(truth.map((t) => t.template)).size;
  return {
    GA: gaLines / n,
    PA: pa / n,
    FGA: f1(exact / predGroups.size, exact / trueGroups.size),
    FTA: f1(correct / byTemplate.size, correct / distinctTrue),
  };
}

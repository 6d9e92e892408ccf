/**
 * Redaction of mined patterns and their parameters (pure). A miner's `<*>` can cut a secret from
 * its key (`password=<*>`) or split it (`xoxb-<*>`, a spaced card as four `<*>`), so a parameter
 * redacted alone leaks. Here the template is redacted with its wildcards standing in as secret-like
 * filler, each record's whole message is redacted first, and only then split into parameters,
 * each shown with the literal text in front of it (its key).
 */
import type { Redactor } from './engine.js';

/**
 * Stand-ins for `<*>` while a template is redacted, tried in turn: upper case and digits (token
 * bodies, AWS key ids), digits (bot ids, numbers before a key), lower-case hex (hex keys).
 */
const FILLERS = ['Q7W3Q7W3Q7W3Q7W3', '4203817265', 'c0ffee42c0ffee42'];

/** Redact a template: a secret that a wildcard completes (`xoxb-<*>`, `token=<*>`, `<*>:AA…`) is replaced whole. */
export function redactTemplate(template: string, redactor: Redactor): string {
  let text = template;
  for (const filler of FILLERS) {
    const parts = text.split('<*>');
    if (parts.length === 1) return redactor.redact(text);
    text = redactor.redact(parts.join(filler)).split(filler).join('<*>');
  }
  return text;
}

/** Values of the `<*>` wildcards of a template in a message (undefined when it does not match). */
export function templateParams(template: string, message: string): string[] | undefined {
  const parts = template.split('<*>');
  if (parts.length === 1) return template === message ? [] : undefined;
  const re = new RegExp(
    `^${parts.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+')).join('(.*?)')}$`,
    's',
  );
  const m = re.exec(message);
  return m ? m.slice(1) : undefined;
}

/** One parameter of a redacted template: the text in front of it and its values with counts. */
export interface RedactedParam {
  /** Up to 24 characters of literal template text just before the `<*>` (its key, e.g. `user=`). */
  before: string;
  values: Map<string, number>;
}

/** The distribution of a template's parameters, computed on redacted text only. */
export interface RedactedParams {
  /** The redacted template the parameters belong to. */
  template: string;
  params: RedactedParam[];
  /** Messages that no longer split into the parameters once redacted (a secret spanned several). */
  unsplit: number;
}

/** Count parameter values over messages, every message redacted before it is split. */
export function redactedParams(template: string, messages: Iterable<string>, redactor: Redactor): RedactedParams {
  const redactedTemplate = redactTemplate(template, redactor);
  const parts = redactedTemplate.split('<*>');
  const params: RedactedParam[] = parts.slice(0, -1).map((p) => ({ before: p.slice(-24), values: new Map() }));
  let unsplit = 0;
  for (const message of messages) {
    const values = templateParams(redactedTemplate, redactor.redact(message));
    if (!values) {
      unsplit++;
      continue;
    }
    values.forEach((v, i) => {
      const m = params[i]?.values;
      m?.set(v, (m.get(v) ?? 0) + 1);
    });
  }
  return { template: redactedTemplate, params, unsplit };
}

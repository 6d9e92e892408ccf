/**
 * The scope of the store tools in a consultation: its pattern and that pattern's fixes. A tool
 * asked about another pattern, another pattern's fix or a request without a record of the
 * pattern refuses with DANCER_TOOL_OUT_OF_SCOPE (`dancer mcp` without a consultation is unscoped).
 */
import { DancerError } from '../../errors.js';
import type { Db } from '../../store/index.js';
import { requestHasTemplate } from '../../store/index.js';

/** What a consultation's tools may answer about. */
export interface ToolScope {
  /** The consultation's pattern; null when the trigger had none (then logs are open, fixes closed). */
  templateId: number | null;
}

function outOfScope(what: string, scope: ToolScope): DancerError {
  return new DancerError(
    'DANCER_TOOL_OUT_OF_SCOPE',
    `${what} is outside this consultation, which may look at ${scope.templateId === null ? 'log records only' : `pattern ${scope.templateId} and its fixes`}.`,
    { details: { hint: scope.templateId === null ? '' : `Use template_id ${scope.templateId}.` } },
  );
}

/** The pattern a log query is limited to (the scope's), refusing another one. */
export function scopedTemplate(scope: ToolScope | undefined, requested: number | undefined): number | undefined {
  if (!scope || scope.templateId === null) return requested;
  if (requested !== undefined && requested !== scope.templateId) throw outOfScope(`Pattern ${requested}`, scope);
  return scope.templateId;
}

/** Refuse a pattern id other than the scope's. */
export function checkPattern(scope: ToolScope | undefined, id: number): void {
  if (scope && id !== scope.templateId) throw outOfScope(`Pattern ${id}`, scope);
}

/** Refuse a fix whose pattern is not the scope's. */
export function checkFix(scope: ToolScope | undefined, fixId: number, patternId: unknown): void {
  if (scope && (scope.templateId === null || String(patternId) !== String(scope.templateId)))
    throw outOfScope(`Fix ${fixId}`, scope);
}

/** Refuse a request that holds no record of the scope's pattern. */
export function checkRequest(db: Db, scope: ToolScope | undefined, requestId: string): void {
  if (!scope || scope.templateId === null) return;
  if (!requestHasTemplate(db, requestId, scope.templateId))
    throw outOfScope(`Request ${JSON.stringify(requestId)}`, scope);
}

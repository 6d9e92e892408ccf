/** Readiness: true when the service can answer. */
export function healthy() {
  return true;
}

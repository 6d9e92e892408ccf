import { z } from 'zod';
import { captureSchema } from './capture.js';
import { consultSchema } from './consult.js';
import { dashboardSchema } from './dashboard.js';
import { fixesSchema, policySchema } from './fixes.js';
import { fleetSchema } from './fleet.js';
import { notifySchema } from './notify.js';
import { patternsSchema } from './patterns.js';
import { serviceSchema } from './service.js';
import { storeSchema } from './store.js';

/**
 * The whole `dancer.yaml` schema. Each section lives in its own file, owned by the stage that
 * reads it; this is the one place they are put together. Defaults live in the schema.
 */
export const configSchema = z
  .object({
    service: serviceSchema.optional(),
    store: storeSchema.prefault({}),
    capture: captureSchema.prefault({}),
    patterns: patternsSchema.prefault({}),
    consult: consultSchema.prefault({}),
    fixes: fixesSchema.prefault({}),
    policy: policySchema.prefault({}),
    notify: notifySchema.prefault({}),
    dashboard: dashboardSchema.prefault({}),
    fleet: fleetSchema.optional(),
  })
  .strict();

/** A validated `dancer.yaml`, with defaults applied. Paths are as written (see {@link LoadedConfig}). */
export type DancerConfig = z.infer<typeof configSchema>;
/** What a user may write in `dancer.yaml` (before defaults). */
export type DancerConfigInput = z.input<typeof configSchema>;

export {
  captureSchema,
  consultSchema,
  dashboardSchema,
  fixesSchema,
  fleetSchema,
  notifySchema,
  patternsSchema,
  policySchema,
  serviceSchema,
  storeSchema,
};

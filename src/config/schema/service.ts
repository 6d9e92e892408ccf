import { z } from 'zod';

const listenSchema = z
  .object({
    name: z.string().default('http').describe('Socket name, passed in LISTEN_FDNAMES.'),
    port: z.number().int().min(0).max(65535),
    host: z.string().default('127.0.0.1'),
  })
  .strict();

const readinessSchema = z
  .object({
    http: z
      .object({ path: z.string().default('/healthz'), port: z.number().int().optional() })
      .strict()
      .optional(),
    tcp: z.object({ port: z.number().int() }).strict().optional(),
    notify: z.boolean().optional().describe('Wait for READY=1 on NOTIFY_SOCKET.'),
    logLine: z.string().optional().describe('Regular expression a log line must match.'),
    timeoutSeconds: z.number().positive().default(10),
  })
  .strict();

/** `service:` the program Dancer supervises. */
export const serviceSchema = z
  .object({
    name: z.string().min(1).describe('Service name, used in topics, metrics and the state folder.'),
    start: z.string().min(1).describe('Command that starts the service, run through /bin/sh in cwd.'),
    cwd: z.string().default('.').describe('Working directory, relative to the config file.'),
    env: z.record(z.string(), z.string()).default({}),
    listen: z.array(listenSchema).default([]),
    readiness: readinessSchema.prefault({}),
    drainSeconds: z.number().positive().default(10),
    build: z.string().optional().describe('Command that builds a release (run in the release directory).'),
    restart: z
      .object({
        maxRestarts: z.number().int().nonnegative().default(5),
        withinSeconds: z.number().positive().default(60),
        backoffInitialMs: z.number().int().positive().default(200),
        backoffMaxMs: z.number().int().positive().default(30_000),
      })
      .prefault({}),
  })
  .strict();

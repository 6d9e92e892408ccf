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
      .optional()
      .describe(
        'Ready when GET path answers 2xx/3xx. On a shared listen port, only an answer from the new worker counts.',
      ),
    tcp: z
      .object({ port: z.number().int() })
      .strict()
      .optional()
      .describe('Ready when the new worker accepts a connection.'),
    notify: z.boolean().optional().describe('Wait for READY=1 on NOTIFY_SOCKET.'),
    logLine: z.string().optional().describe('Regular expression a log line must match.'),
    timeoutSeconds: z.number().positive().default(10),
    graceMs: z
      .number()
      .int()
      .nonnegative()
      .default(1000)
      .describe('With no probe configured and no socket: ready after this long alive.'),
  })
  .strict();

const observeSchema = z
  .object({
    windowSeconds: z.number().positive().default(300).describe('Observation window after a deploy.'),
    baselineSeconds: z.number().positive().default(900).describe('Pre-deploy period the window is compared with.'),
    checkEverySeconds: z.number().positive().default(5),
    errorRateIncrease: z
      .number()
      .nonnegative()
      .default(0.5)
      .describe('Roll back when the error rate grows by this fraction.'),
    minErrors: z
      .number()
      .int()
      .nonnegative()
      .default(5)
      .describe('Error-rate and pattern triggers need at least this many errors in the window.'),
    rssIncrease: z.number().nonnegative().default(0.5).describe('Roll back when worker RSS grows by this fraction.'),
    rssLimitMb: z.number().positive().optional().describe('Roll back when worker RSS exceeds this (MiB).'),
    newPatternMin: z.number().int().positive().default(5).describe('A new error pattern seen this often rolls back.'),
    latencyIncrease: z.number().nonnegative().default(1).describe('Roll back when p95 latency grows by this fraction.'),
    latencyMinMs: z
      .number()
      .nonnegative()
      .default(50)
      .describe('...and by at least this many milliseconds (ignores noise on very fast services).'),
    minRecords: z
      .number()
      .int()
      .nonnegative()
      .default(20)
      .describe('Fewer log records than this in the window is too little traffic: inconclusive.'),
    maxExtensions: z
      .number()
      .int()
      .nonnegative()
      .default(2)
      .describe(
        "A window that cannot decide is extended by windowSeconds this often: too little traffic (then a human decides), or an error rate (or the target pattern's) above errorRateIncrease that the rate test cannot yet tell from noise (then it rolls back to the last good release as `inconclusive`: an observation that cannot tell does not pass).",
      ),
  })
  .prefault({});

const smokeRequestSchema = z
  .object({
    method: z.string().default('GET'),
    path: z.string().startsWith('/').describe('Request path, e.g. /price?sku=a1.'),
    status: z
      .union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)])
      .describe('The status (or one of the statuses) the request must answer.'),
    body: z.string().optional().describe('Request body, sent as is.'),
    headers: z.record(z.string(), z.string()).optional(),
  })
  .strict();

const smokeSchema = z
  .union([
    z.array(smokeRequestSchema).min(1),
    z
      .object({
        command: z
          .string()
          .min(1)
          .describe('Run with /bin/sh; exit 0 passes. DANCER_SMOKE_URL and DANCER_SMOKE_PORT name the staged release.'),
        timeoutSeconds: z.number().positive().default(30),
      })
      .strict(),
  ])
  .optional()
  .describe(
    'Checks a new release passes on a private socket before it takes traffic: a list of requests with the statuses they must answer, or a command. A failure is a failed deploy that no user saw.',
  );

/** `service:` the program Dancer supervises. */
export const serviceSchema = z
  .object({
    name: z.string().min(1).describe('Service name, used in topics, metrics and the state folder.'),
    start: z.string().min(1).describe('Command that starts the service, run through /bin/sh in cwd.'),
    cwd: z.string().default('.').describe('Working directory, relative to the config file.'),
    env: z.record(z.string(), z.string()).default({}),
    passSecrets: z
      .array(z.string().min(1))
      .default([])
      .describe(
        "Dancer's own secret variables (the model's API key, the Zulip bot key, webhook and dashboard secrets, the fleet URL) the service may still inherit. Default none: a deployed fix never holds Dancer's credentials.",
      ),
    listen: z.array(listenSchema).default([]),
    mode: z
      .enum(['socket', 'port'])
      .default('socket')
      .describe(
        'socket: Dancer binds and passes LISTEN_FDS (zero-downtime). port: the service binds PORT itself; NOT zero-downtime.',
      ),
    readiness: readinessSchema.prefault({}),
    drainSeconds: z.number().positive().default(10),
    build: z.string().optional().describe('Command that builds a release (run in the release directory).'),
    repo: z.string().optional().describe('Git repository releases are built from (default: the one holding cwd).'),
    releasesDir: z
      .string()
      .optional()
      .describe('Where releases are built (default: /var/dancer/<name>/releases as root, else .dancer/releases).'),
    stateDir: z.string().optional().describe('State folder with the control socket (default: .dancer/<name>).'),
    restart: z
      .object({
        maxRestarts: z.number().int().nonnegative().default(5),
        withinSeconds: z.number().positive().default(60),
        backoffInitialMs: z.number().int().positive().default(200),
        backoffMaxMs: z.number().int().positive().default(30_000),
      })
      .prefault({}),
    observe: observeSchema,
    smoke: smokeSchema,
    metrics: z
      .object({
        sampleSeconds: z.number().positive().default(5).describe('How often /proc is sampled.'),
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .optional()
          .describe('Prometheus /metrics port (loopback); off when unset.'),
        host: z.string().default('127.0.0.1'),
        keepHours: z.number().positive().default(72),
      })
      .prefault({}),
    watchdogSeconds: z.number().positive().default(30).describe('WatchdogSec written by `dancer init --systemd`.'),
  })
  .strict();

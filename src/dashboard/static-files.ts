/**
 * The page's files: Dancer's own (assets/dashboard, plain ES modules and CSS) and two browser
 * libraries served straight from node_modules (htm with Preact, uPlot). Nothing is built at run
 * time and nothing is fetched from the network.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const ASSETS = path.resolve(import.meta.dirname, '../../assets/dashboard');
const HTM = path.resolve(path.dirname(require.resolve('htm')), '..');
const UPLOT = path.dirname(require.resolve('uplot/dist/uPlot.esm.js'));

/** URL path -> file and content type. Only these are served. */
export const STATIC_FILES: Record<string, { path: string; type: string }> = {
  '/': { path: path.join(ASSETS, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { path: path.join(ASSETS, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/views.js': { path: path.join(ASSETS, 'views.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { path: path.join(ASSETS, 'style.css'), type: 'text/css; charset=utf-8' },
  '/vendor/htm-preact.js': { path: path.join(HTM, 'preact', 'standalone.mjs'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.js': { path: path.join(UPLOT, 'uPlot.esm.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.css': { path: path.join(UPLOT, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

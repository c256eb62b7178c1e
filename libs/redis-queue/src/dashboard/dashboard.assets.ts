import { readdirSync, readFileSync } from 'fs';
import { extname } from 'path';
import { fileURLToPath } from 'url';
import { LIBRARY_VERSION } from '../engine/index.js';

/** The page and its files, shipped in the package beside this module (assets/), read once. */
const folder = fileURLToPath(new URL('./assets/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

export interface Asset {
  type: string;
  body: string;
}

let loaded: Map<string, Asset> | undefined;

/** Every file of assets/ by name: only these are ever served (no path from a request reaches the disk). */
export function assets(): Map<string, Asset> {
  if (loaded) return loaded;
  const found = new Map<string, Asset>();
  for (const name of readdirSync(folder)) {
    const type = TYPES[extname(name)];
    if (type) found.set(name, { type, body: readFileSync(folder + name, 'utf8') });
  }
  return (loaded = found);
}

/**
 * The page, for the URL it was asked at: `<base href>` makes every link and API call relative to where
 * the dashboard is mounted (global prefix included), whatever the app's routes.
 */
export function page(requestPath: string, title: string): string {
  const path = requestPath.split('?')[0];
  const base = path.endsWith('/') ? path : `${path}/`;
  const html = assets().get('index.html')!.body;
  return html
    .replace('<base href="/">', `<base href="${escapeHtml(base)}">`)
    .replaceAll('{{title}}', escapeHtml(title))
    .replaceAll('{{version}}', escapeHtml(LIBRARY_VERSION));
}

/** Served with the page and its files: nothing from elsewhere, no inline script, no framing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

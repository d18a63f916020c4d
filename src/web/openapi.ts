import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { systemClock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { createLogger } from '../core/logger.js';
import { buildApp, type AppDeps } from './app.js';

/** Where `npm run openapi` writes the document (a test fails when it differs from the routes). */
export const OPENAPI_FILE = path.join('docs', 'api', 'openapi.json');

/**
 * A component that the description never calls: the app is built to list its routes and schemas,
 * and serves no request. Any use names the component and the property.
 */
function unused<T extends object>(name: string): T {
  return new Proxy({} as T, {
    get: (_t, prop) => {
      throw new AppError('INTERNAL', `describing the API only: ${name}.${String(prop)} is not available`);
    },
  });
}

/** The OpenAPI document of the kit's HTTP API, from the routes' schemas (the same as GET /api/openapi.json). */
export async function describeApi(): Promise<unknown> {
  const deps: AppDeps = {
    recorder: unused('recorder'),
    catalogue: unused('catalogue'),
    clips: unused('clips'),
    keys: unused('keys'),
    privacy: unused('privacy'),
    fragmentStore: unused('fragmentStore'),
    bus: new EventBus(),
    clock: systemClock,
    logger: createLogger({ level: 'silent' }),
    pin: () => null,
    markerLabels: [],
    sessionIdleMs: 60_000,
    lockAfterIdleMs: 60_000,
    sync: { status: () => ({ state: 'off' }), run: null },
    hardware: () => ({ battery: null, docked: false }),
    uiDir: path.join('dist', 'ui'),
  };
  const app = await buildApp(deps);
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
  }
}

/** The document as written to docs/ (2-space JSON with a final newline). */
export function formatApi(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** `npm run openapi`: writes docs/api/openapi.json under `root`. */
export async function writeApiDocument(root: string): Promise<string> {
  const file = path.join(root, OPENAPI_FILE);
  writeFileSync(file, formatApi(await describeApi()));
  return file;
}

// The import direction the build enforces (scripts/check-imports, run by scripts/test):
//   core ← config ← {device, capture, store} ← session ← {web, sync, appliance, office} ← main (and the CLI)
// A folder imports only the layers below it and itself; folders of one level do not import each
// other. src/*.ts (main, cli, admin, doctor) and src/wiring/ (the composition root's wiring) may
// import any layer; nothing in a layer imports them. Type-only imports count too.
const LOWER = {
  core: [],
  config: ['core'],
  device: ['core', 'config'],
  capture: ['core', 'config'],
  store: ['core', 'config'],
  session: ['core', 'config', 'device', 'capture', 'store'],
  web: ['core', 'config', 'device', 'capture', 'store', 'session'],
  sync: ['core', 'config', 'device', 'capture', 'store', 'session'],
  appliance: ['core', 'config', 'device', 'capture', 'store', 'session'],
  office: ['core', 'config', 'device', 'capture', 'store', 'session'],
  wiring: ['core', 'config', 'device', 'capture', 'store', 'session', 'web', 'sync', 'appliance', 'office'],
};

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...Object.entries(LOWER).map(([layer, lower]) => ({
      name: `layer-${layer}`,
      comment: `src/${layer}/ may import only ${lower.length ? lower.map((l) => `src/${l}/`).join(', ') : 'nothing of the project'} and itself (DESIGN.md: imports point one way)`,
      severity: 'error',
      from: { path: `^src/${layer}/` },
      to: { path: '^src/', pathNot: `^src/(${[...lower, layer].join('|')})/` },
    })),
    {
      name: 'not-to-unresolvable',
      comment: 'a relative import names a file that is not there',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true, path: '^[.]' }, // packages: npm ci and the typecheck see to them
    },
    {
      name: 'no-circular',
      comment: 'modules do not import each other in a circle',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs', '.json'] },
  },
};

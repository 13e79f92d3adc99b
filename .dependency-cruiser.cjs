/**
 * The layers of src/ (docs/architecture.md), checked by `npm run lint`:
 *
 *   domain  <-  config, graph, store  <-  sync  <-  api?  <-  app, cli  <-  functions/
 *
 * domain imports nothing of ours; config, graph and store import domain (and config); sync composes them; the API
 * reads through the store's read model and never reaches the sync engine; app/ and cli/ are the composition roots.
 * tools/ (emulator, local host, demo) may use src/, never the reverse; nothing imports test/ or bench/.
 */
const layer = (name, allowed) => ({
  name: `${name}-imports-only-${allowed.join('-') || 'nothing'}`,
  severity: 'error',
  comment: `src/${name} may import only ${allowed.length ? allowed.map((a) => `src/${a}`).join(', ') : 'no other folder of src'}`,
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)] },
});

module.exports = {
  forbidden: [
    layer('domain', []),
    layer('config', ['domain']),
    layer('graph', ['domain', 'config']),
    layer('store', ['domain', 'config']),
    layer('sync', ['domain', 'config', 'graph', 'store']),
    layer('api', ['domain', 'config', 'store']),
    layer('app', ['domain', 'config', 'graph', 'store', 'sync', 'api']),
    layer('cli', ['domain', 'config', 'graph', 'store', 'sync', 'app']),
    {
      name: 'functions-through-app',
      severity: 'error',
      comment: 'functions/ registers what src/app builds',
      from: { path: '^functions/' },
      to: { path: '^src/', pathNot: ['^src/app/', '^src/config/'] },
    },
    {
      name: 'product-never-imports-tools-tests-bench',
      severity: 'error',
      comment: 'src/ and functions/ are what ships: they never import tools/, test/ or bench/',
      from: { path: '^(src|functions)/' },
      to: { path: '^(tools|test|bench)/' },
    },
    {
      name: 'nothing-imports-tests',
      severity: 'error',
      from: { pathNot: '^(test|bench)/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'no import cycles, between files or folders',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-dev-dependencies-in-product',
      severity: 'error',
      comment: 'what ships uses runtime dependencies only',
      from: { path: '^(src|functions)/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};

// @ts-check
/**
 * The architecture rules, checked by `npm run check` (`npm run lint:architecture`). A broken
 * rule fails with its name. The README's layout table lists the same layers, top to bottom.
 */

/**
 * Layers, top to bottom: a folder imports only folders in layers below its own. Folders in one
 * layer are peers and never import each other. migrations/ stands apart (it imports nothing).
 */
const LAYERS = [
  ['test'],
  ['bench', 'chaos'],
  ['scripts'],
  ['stack'],
  ['api', 'worker'],
  ['activities'],
  ['support'],
  ['gateway'],
  ['temporal'],
  ['drivers'],
  ['observability'],
  ['config'],
  ['security'],
  ['db'],
  ['workflows'],
];
const FOLDERS = LAYERS.flat();
const anyOf = (folders) => `^(${folders.join('|')})/`;

/** @type {import('dependency-cruiser').IForbiddenRuleType[]} */
const layerRules = LAYERS.flatMap((layer, index) =>
  layer.map((folder) => {
    const notBelow = [...LAYERS.slice(0, index).flat(), ...layer.filter((f) => f !== folder)];
    const isWorkflows = folder === 'workflows';
    return {
      name: `layer-${folder}`,
      comment: isWorkflows
        ? 'workflows/ is deterministic: it imports only its own files and activities as types.'
        : `${folder}/ imports only the folders below its layer (README "Layout"): not ${notBelow.join(', ')}.`,
      severity: 'error',
      from: { path: `^${folder}/` },
      to: {
        path: anyOf(notBelow.filter((f) => !(isWorkflows && f === 'activities'))),
      },
    };
  }),
).filter((rule) => rule.to.path !== '^()/');

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycles between files (and so none between folders).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'workflows-import-activities-as-types-only',
      comment:
        'Workflows reach activities through proxyActivities: `import type` only (the one upward arrow).',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'workflows-use-only-the-temporal-workflow-sdk',
      comment: 'Workflow code runs in the deterministic sandbox: only @temporalio/workflow|common.',
      severity: 'error',
      from: { path: '^workflows/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'core'],
        pathNot: '^node_modules/@temporalio/(workflow|common)/',
      },
    },
    {
      name: 'only-contracts-from-workflows',
      comment:
        'Outside workflows/ (and tests) code imports workflows/contracts.ts only; the worker loads the rest by path.',
      severity: 'error',
      from: { path: anyOf(FOLDERS.filter((f) => f !== 'workflows' && f !== 'test')) },
      to: { path: '^workflows/', pathNot: '^workflows/contracts\\.ts$' },
    },
    {
      name: 'db-imports-nothing-above',
      comment:
        'db/ is the bottom of the house: it imports only workflows/contracts.ts (status types).',
      severity: 'error',
      from: { path: '^db/' },
      to: { path: anyOf(FOLDERS.filter((f) => f !== 'db')), pathNot: '^workflows/contracts\\.ts$' },
    },
    {
      name: 'web-entry-never-loads-worker-code',
      comment:
        'scripts/api.ts (the web process) must not load the worker, activities or workflows.',
      severity: 'error',
      from: { path: '^scripts/api\\.ts$' },
      to: {
        path: '^(worker/|activities/|workflows/(?!contracts\\.ts$)|node_modules/@temporalio/worker/)',
        reachable: true,
      },
    },
    {
      name: 'worker-entry-never-loads-web-app',
      comment: 'scripts/worker.ts (the worker process) must not load the Fastify app.',
      severity: 'error',
      from: { path: '^scripts/worker\\.ts$' },
      to: { path: '^(api/|node_modules/fastify/)', reachable: true },
    },
    {
      name: 'production-never-imports-test',
      comment: 'Production code, scripts, benchmarks and chaos never import test/.',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
    {
      name: 'migrations-import-no-app-code',
      comment: 'A migration is frozen in time: it imports nothing of the project.',
      severity: 'error',
      from: { path: '^migrations/' },
      to: { path: anyOf(FOLDERS) },
    },
    {
      name: 'kysely-only-in-db',
      comment:
        'All SQL lives in db/ (and migrations/): elsewhere use db/ query functions and the Db type.',
      severity: 'error',
      from: { path: anyOf(FOLDERS.filter((f) => f !== 'db' && f !== 'test')) },
      to: { path: '^node_modules/(kysely|kysely-pglite-dialect|pg|@electric-sql/pglite)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing is a typo or a missing dependency.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(\\.data|\\.tools|dist|coverage|test/histories)/' },
    includeOnly: { path: `^(${[...FOLDERS, 'migrations'].join('|')}|node_modules)/` },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};

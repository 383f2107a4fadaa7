/**
 * The dependency rules of the design (docs/layout.md), checked by
 * `npm run lint:deps` and at the start of `npm test`. A break fails with the
 * rule's name, the importing file and the imported one.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'src-is-the-library',
      comment: 'src/ (the deep-learning library) imports nothing from cluster/, kernel/ or cli/',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(cluster|kernel|cli)/' },
    },
    {
      name: 'protocol-imports-no-cluster',
      comment: 'cluster/protocol/ owns the wire and imports nothing else of the project',
      severity: 'error',
      from: { path: '^cluster/protocol/' },
      to: { path: '^(cluster/(?!protocol/)|src/|kernel/|cli/|bench/)' },
    },
    {
      name: 'controller-not-engine',
      comment: 'the controller and the engine meet only on the wire',
      severity: 'error',
      from: { path: '^cluster/controller/' },
      to: { path: '^cluster/engine/' },
    },
    {
      name: 'engine-not-controller',
      comment: 'the controller and the engine meet only on the wire',
      severity: 'error',
      from: { path: '^cluster/engine/' },
      to: { path: '^cluster/controller/' },
    },
    {
      name: 'controller-not-training-code',
      comment: 'the controller schedules; it never imports the training library (src/)',
      severity: 'error',
      from: { path: '^cluster/controller/' },
      to: { path: '^src/' },
    },
    {
      name: 'notebook-hooks-is-a-leaf',
      comment: 'src/notebook-hooks/ (display channel, MIME bundle, interrupt registry) imports nothing of the project',
      severity: 'error',
      from: { path: '^src/notebook-hooks/' },
      to: { path: '^(src/(?!notebook-hooks/)|cluster/|kernel/|cli/|bench/|notebooks/|test/)' },
    },
    {
      name: 'only-cli-imports-cli',
      comment: 'cli/ is the top of the tree: it imports every area and no area imports it',
      severity: 'error',
      from: { path: '^(src|cluster|kernel|bench|notebooks)/' },
      to: { path: '^cli/' },
    },
    {
      name: 'no-circular-in-client',
      comment: 'no import circle inside cluster/client/ (views and handles program against a submitter interface)',
      severity: 'error',
      from: { path: '^cluster/client/' },
      to: { path: '^cluster/client/', circular: true },
    },
    {
      name: 'resolvable-imports',
      comment: 'every relative import resolves to a file',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, dependencyTypesNot: ['npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};

/**
 * Layer rules for src/ (run by `npm test` through `npm run lint:layers`). Each folder is one concept; a folder may
 * import only from folders in lower layers (and from itself). The order, bottom up, is docs/architecture.md's diagram.
 */
const LAYERS = [
  ['core'],
  ['config', 'http-kit'],
  ['framing'],
  ['net', 'protocols'],
  ['pipeline'],
  ['faults', 'compare'],
  ['session', 'upstream'],
  ['routing'],
  ['listeners', 'replication'],
  ['grpc', 'wamp'],
  ['runtime'],
  ['admin', 'compat'],
  ['cli'],
];

const layerRules = LAYERS.flatMap((folders, rank) =>
  folders.map((folder) => {
    const notBelow = LAYERS.slice(rank).flat().filter((f) => f !== folder);
    return {
      name: `layer-${folder}`,
      comment: `src/${folder}/ may import only from the layers below it (${LAYERS.slice(0, rank).flat().join(', ') || 'nothing of ours'})`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: notBelow.length > 0 ? `^src/((${notBelow.join('|')})/|index\\.ts$)` : '^src/index\\.ts$' },
    };
  }),
);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycles, type-only ones included',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'protocol-modules-are-independent',
      comment: 'one protocol module never imports another (they share only protocols/*.ts)',
      severity: 'error',
      from: { path: '^src/protocols/([^/]+)/' },
      to: { path: '^src/protocols/[^/]+/', pathNot: '^src/protocols/$1/' },
    },
    {
      name: 'faults-are-independent',
      comment: 'one fault file never imports another fault type',
      severity: 'error',
      from: { path: '^src/faults/types/([^/]+)\\.ts$' },
      to: { path: '^src/faults/types/', pathNot: '^src/faults/types/$1\\.ts$' },
    },
    {
      name: 'no-orphans',
      comment: 'every source file is reachable from somewhere (dead files get deleted)',
      severity: 'error',
      from: { orphan: true, path: '^src/', pathNot: '^src/index\\.ts$' },
      to: {},
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};

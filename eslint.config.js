// Lint rules (run by `npm test` through `npm run lint`). typescript-eslint's recommended type-aware rules, plus the
// house style: ES private fields (`#x`), never the TypeScript `private` keyword, so one class reads like another.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const NO_TS_PRIVATE = { selector: ':matches(PropertyDefinition, MethodDefinition, TSParameterProperty)[accessibility="private"]', message: 'Use an ES private member (#name), not the TypeScript `private` keyword.' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      'no-restricted-syntax': [
        'error',
        NO_TS_PRIVATE,
      ],
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The proxy's own code: what runs per connection or per request must not keep it alive longer than it lives.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        NO_TS_PRIVATE,
        {
          // V8 allocates a function literal assigned straight to a property in the old generation ("pretenured"): it
          // then keeps its context, and all that context reaches (a connection's sockets, buffers, state), alive
          // through every scavenge until the next full collection. docs/architecture.md, "Closures and the GC".
          selector: 'AssignmentExpression[left.type="MemberExpression"] > :matches(ArrowFunctionExpression, FunctionExpression).right',
          message: 'Assign the function to a local first (`const f = () => …; obj.x = f;`): a function literal assigned straight to a property is pretenured by V8 and keeps what it captures alive through every scavenge.',
        },
      ],
    },
  },
  {
    // The dashboard (web/dashboard/, bundled by scripts/build-dashboard.mjs) runs in the browser: its own tsconfig
    // (DOM, JSX for Preact) is found by the project service; browser globals instead of Node's.
    files: ['web/**/*.{ts,tsx}'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);

// Lint rules (run by `npm test` through `npm run lint`). typescript-eslint's recommended type-aware rules, plus the
// house style: ES private fields (`#x`), never the TypeScript `private` keyword, so one class reads like another.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

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
        { selector: ':matches(PropertyDefinition, MethodDefinition, TSParameterProperty)[accessibility="private"]', message: 'Use an ES private member (#name), not the TypeScript `private` keyword.' },
      ],
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
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

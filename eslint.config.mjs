// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.data/', 'bench/results/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // No consistent-type-imports: with emitDecoratorMetadata, Nest DI needs constructor
      // parameter classes as runtime imports.
    },
  },
  {
    // The platform is domain-agnostic: it never reaches into the ticketing modules.
    files: ['src/platform/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/modules/**'], message: 'platform/* must not import modules/*' }] },
      ],
    },
  },
  {
    // Domain code uses a platform module through its barrel only.
    files: ['src/modules/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: 'platform/[^/]+/.+', message: 'import the platform barrel (platform/<name>), not a deep path' },
          ],
        },
      ],
    },
  },
  {
    files: ['bench/**/*.mjs', 'test/**/*.ts', '.ci/**/*.mjs'],
    rules: { 'no-console': 'off' },
  },
);

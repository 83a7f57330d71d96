// Lint configuration: typescript-eslint's recommended rules over every package.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'native/build*/**', 'prisma/generated/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
);

// The text cells see as the module "petal": types.ts with its import specifiers made absolute (a notebook folder
// anywhere resolves them), plus one declared value per member of the API object; and, apart, the declaration that
// types `tf` with tfjs-node's module, which the evaluator adds only once a cell mentions `tf` (loading tfjs-node's
// declarations into the cells' TypeScript program costs a second or more, several under load).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const typesFile = new URL('./types.ts', import.meta.url);

/** The declaration of the module "petal" for an API object with these member names. */
export function petalDeclaration(names: readonly string[]): string {
  let text = readFileSync(typesFile, 'utf8');
  const outputs = fileURLToPath(new URL('../outputs/types', import.meta.url));
  text = text.replaceAll(`'../outputs/types.ts'`, JSON.stringify(outputs));
  const values = names.map((name) => `export declare const ${name}: PetalModule[${JSON.stringify(name)}];`).join('\n');
  return `${text}\n${values}\n`;
}

/** Members of `declare global { … }` that give `tf` from "petal" tfjs-node's module type (see PetalKernelTypes). */
export function tfDeclaration(): string {
  const require = createRequire(import.meta.url);
  const index = join(dirname(require.resolve('@tensorflow/tfjs-node/package.json')), 'dist', 'index');
  return `  interface PetalKernelTypes { tf: typeof import(${JSON.stringify(index)}); }\n`;
}

// The text cells see as the module "petal": types.ts with its import specifiers made absolute (a notebook folder
// anywhere resolves them), plus one declared value per member of the API object.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const typesFile = new URL('./types.ts', import.meta.url);

/** Absolute module paths (no extension, as TypeScript resolves them) for the specifiers types.ts imports. */
function absoluteSpecifiers(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const tfNode = dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
  return {
    '@tensorflow/tfjs-node': join(tfNode, 'dist', 'index'),
    '../outputs/types.ts': fileURLToPath(new URL('../outputs/types', import.meta.url)),
  };
}

/** The declaration of the module "petal" for an API object with these member names. */
export function petalDeclaration(names: readonly string[]): string {
  let text = readFileSync(typesFile, 'utf8');
  for (const [from, to] of Object.entries(absoluteSpecifiers()))
    text = text.replaceAll(`'${from}'`, JSON.stringify(to));
  const values = names.map((name) => `export declare const ${name}: PetalModule[${JSON.stringify(name)}];`).join('\n');
  return `${text}\n${values}\n`;
}

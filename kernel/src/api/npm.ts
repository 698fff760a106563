// `npm` of the "petal" module: installs packages into the notebook folder, so cells can import them.
import { spawn } from 'node:child_process';
import { PetalError } from '@petal/runtime';
import type { Resources } from '../resources.ts';
import type { NpmApi } from './types.ts';

/** Where packages go and what the kernel must stop at shutdown. */
export interface NpmApiOptions {
  /** The notebook folder: its node_modules is where cells resolve imports from. */
  dir: string;
  resources: Resources;
  /** Receives npm's output (the cell's stdout/stderr). */
  write(stream: 'stdout' | 'stderr', text: string): void;
}

export function createNpmApi(options: NpmApiOptions): NpmApi {
  return {
    install(...packages: string[]): Promise<string[]> {
      if (packages.length === 0 || packages.some((p) => typeof p !== 'string' || p === '' || p.startsWith('-'))) {
        return Promise.reject(
          new PetalError('PETAL_NPM_ARGS', 'npm.install() takes package specs (no flags)', {
            fix: '%npm install lodash@4',
          }),
        );
      }
      // --prefix keeps npm from climbing to an enclosing project; scripts stay off as in Petal's own .npmrc.
      const args = ['install', '--prefix', options.dir, '--ignore-scripts', '--no-audit', '--no-fund', ...packages];
      return new Promise((resolve, reject) => {
        const child = spawn('npm', args, { cwd: options.dir, stdio: ['ignore', 'pipe', 'pipe'] });
        const forget = options.resources.add({
          name: `npm install (pid ${child.pid})`,
          stop: async () => void child.kill('SIGTERM'),
        });
        child.stdout.setEncoding('utf8').on('data', (text: string) => options.write('stdout', text));
        child.stderr.setEncoding('utf8').on('data', (text: string) => options.write('stderr', text));
        child.once('error', (err: NodeJS.ErrnoException) => {
          forget();
          reject(
            new PetalError('PETAL_NPM_MISSING', `cannot run npm: ${err.message}`, {
              cause: err,
              fix: 'install npm (it comes with Node.js) and make sure it is on PATH',
            }),
          );
        });
        child.once('close', (code, signal) => {
          forget();
          if (code === 0) resolve(packages);
          else
            reject(
              new PetalError(
                'PETAL_NPM_INSTALL',
                `npm install ${packages.join(' ')} failed (${signal ?? `exit ${code}`})`,
                {
                  fix: "read npm's output above: a misspelt package, no network, or a version that does not exist",
                },
              ),
            );
        });
      });
    },
  };
}

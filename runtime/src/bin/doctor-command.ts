// `petal doctor [--json]`: every piece Petal needs, each OK or what is wrong and the fix. Exit 1 if any is not.
import { parseArgs } from 'node:util';
import { runChecks } from '../doctor/checks.ts';
import type { Command } from './petal.ts';

export const doctorCommand: Command = async (argv) => {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } } });
  const results = runChecks();
  const ok = results.every((r) => r.ok);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ok, checks: results }, null, 2)}\n`);
  } else {
    for (const r of results) {
      process.stdout.write(`${r.ok ? 'OK  ' : 'FAIL'} ${r.name.padEnd(11)} ${r.detail}\n`);
      if (r.fix) process.stdout.write(`     ${''.padEnd(11)} fix: ${r.fix}\n`);
    }
  }
  return ok ? 0 : 1;
};

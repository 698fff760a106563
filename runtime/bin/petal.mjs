#!/usr/bin/env node
// The `petal` command.
import { runOnProjectNode } from './project-node.mjs';

await runOnProjectNode('petal', new URL('../src/bin/petal.ts', import.meta.url).href);

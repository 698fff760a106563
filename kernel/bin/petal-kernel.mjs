#!/usr/bin/env node
// The `petal-kernel` command (also reached as `petal kernel`).
import { runOnProjectNode } from '@petal/runtime/project-node';

await runOnProjectNode('petal-kernel', new URL('../src/cli.ts', import.meta.url).href);

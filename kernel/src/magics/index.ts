// The magics a Petal kernel starts with. A new magic is one file beside these, added here.
import { clusterMagic } from './cluster.ts';
import { helpMagic } from './help.ts';
import { kafkaMagic } from './kafka.ts';
import { logsMagic } from './logs.ts';
import { npmMagic } from './npm.ts';
import { MagicRegistry } from './registry.ts';
import { streamMagic } from './stream.ts';
import { trainMagic } from './train.ts';

export { MagicRegistry, MAGIC_LINE, CELL_MAGIC_LINE, splitArgs } from './registry.ts';
export type { ArgsSpec, CellMagic, FlagSpec, LineMagic, MagicCall } from './registry.ts';

/** A registry with the built-in magics. */
export function builtinMagics(): MagicRegistry {
  return new MagicRegistry()
    .addLine(helpMagic)
    .addLine(kafkaMagic)
    .addLine(npmMagic)
    .addLine(clusterMagic)
    .addLine(trainMagic)
    .addLine(logsMagic)
    .addCell(streamMagic);
}

export { listImageFolder, imageTable } from './image-folder.ts';
export type { ImageEntry, ListImageFolderOptions } from './image-folder.ts';
export { stratifiedSplit } from './split.ts';
export type { SplitOptions } from './split.ts';
export { FLOWERS_URL, flowersCacheDir, locateFlowers } from './flowers.ts';
export type { LocateFlowersOptions } from './flowers.ts';

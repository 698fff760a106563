// Where the tf_flowers photos are: a folder the caller names, the copy beside the checkout (sharedDataDir()), a
// previous download in the cache, or — when online — a fresh download of TensorFlow's canonical archive.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { cacheDir, sharedDataDir } from '../env/locations.ts';
import { PetalError } from '../errors.ts';

/** TensorFlow's archive of the photos (the source of TFDS `tf_flowers`): `flower_photos/<class>/*.jpg`, 218 MB. */
export const FLOWERS_URL = 'https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz';

/** Options of locateFlowers(). */
export interface LocateFlowersOptions {
  /** Use this folder of class folders (checked first). */
  dir?: string;
  /** Download when no copy is found (default true). */
  download?: boolean;
  /** Archive to download (default FLOWERS_URL). */
  url?: string;
}

/** Where a download lands, reused by later calls. */
export function flowersCacheDir(): string {
  return join(cacheDir(), 'datasets', 'flower_photos');
}

/** The folder holding the photos' class folders: `dir` when given, else the first copy found, else a download (once). */
export async function locateFlowers(options: LocateFlowersOptions = {}): Promise<string> {
  const holdsFlowers = (d: string): boolean => existsSync(join(d, 'daisy'));
  if (options.dir !== undefined) {
    if (holdsFlowers(options.dir)) return options.dir;
    throw new PetalError('PETAL_DATA_FOLDER', `${options.dir} holds no flowers class folders (daisy/, roses/, …)`, {
      fix: 'point dir at the folder that holds daisy/ dandelion/ roses/ sunflowers/ tulips/',
    });
  }
  const shared = sharedDataDir();
  const candidates = [...(shared ? [join(shared, 'flowers')] : []), flowersCacheDir()];
  const found = candidates.find(holdsFlowers);
  if (found) return found;
  if (options.download === false) {
    throw new PetalError('PETAL_DATA_FOLDER', `no copy of the flower photos in ${candidates.join(', ')}`, {
      fix: 'set PETAL_DATA_DIR to a folder holding flowers/, pass dir, or allow the download',
    });
  }
  return await download(options.url ?? FLOWERS_URL, flowersCacheDir());
}

/** Fetches and unpacks the archive next to `target`, then renames it into place: never a half-written folder. */
async function download(url: string, target: string): Promise<string> {
  await mkdir(join(target, '..'), { recursive: true });
  const work = await mkdtemp(`${target}.download-`);
  try {
    const archive = join(work, 'flower_photos.tgz');
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw downloadError(url, 'could not connect', err);
    }
    if (!response.ok || !response.body) throw downloadError(url, `HTTP ${response.status}`);
    await pipeline(Readable.fromWeb(response.body as ReadableStream<Uint8Array>), createWriteStream(archive));
    await untar(archive, work);
    const unpacked = join(work, 'flower_photos');
    if (!existsSync(join(unpacked, 'daisy'))) throw downloadError(url, 'the archive holds no flower_photos/daisy/');
    await rename(unpacked, target);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function untar(archive: string, into: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-xzf', archive, '-C', into], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    tar.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    tar.once('error', (err) => reject(downloadError(archive, 'could not run tar', err)));
    tar.once('exit', (code) =>
      code === 0 ? resolve() : reject(downloadError(archive, `tar exited ${code}: ${stderr.trim().slice(-300)}`)),
    );
  });
}

function downloadError(url: string, why: string, cause?: unknown): PetalError {
  return new PetalError('PETAL_DATA_DOWNLOAD', `downloading the flower photos from ${url} failed: ${why}`, {
    fix: 'check the network, or set PETAL_DATA_DIR to a folder holding flowers/ (or pass dir)',
    retryable: true,
    cause,
    detail: { url },
  });
}

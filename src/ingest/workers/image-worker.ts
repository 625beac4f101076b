/**
 * ImagePool worker: decode + preprocess one image and hand the Float32Array
 * back by transfer (no copy). Failures come back as a coded WireError.
 */
import { workerData } from 'node:worker_threads';

import { move } from 'piscina';

import { encodeError } from '../../util/wire-error.js';
import { preprocessImage, type ResolvedPreprocess } from '../preprocess.js';

const options = (workerData as { preprocess: ResolvedPreprocess }).preprocess;

export default async function preprocess(input: string | Uint8Array): Promise<unknown> {
  try {
    return move(await preprocessImage(input, options));
  } catch (error) {
    return { error: encodeError(error, 'ERR_FUSIONRANK_CORRUPT_IMAGE') };
  }
}

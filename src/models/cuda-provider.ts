import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Why onnxruntime-node cannot start its CUDA provider, when that is certain
 * before trying: it loads the provider from the folder of its binding, so
 * without the file there (its install step was skipped, as offline installs
 * must, or the platform has none) the attempt can only fail, and onnxruntime
 * prints an error line of its own to stderr first. Undefined when the layout
 * is not the known one: then onnxruntime decides.
 */
export function missingCudaProvider(): string | undefined {
  if (process.platform === 'darwin') return 'onnxruntime-node has no CUDA provider on macOS';
  try {
    const root = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const dir = join(root, 'bin', 'napi-v6', process.platform, process.arch);
    if (!existsSync(join(dir, 'onnxruntime_binding.node'))) return undefined;
    const provider = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    return existsSync(join(dir, provider)) ? undefined : `onnxruntime-node's CUDA provider is not installed (no ${provider} next to its binding)`;
  } catch {
    return undefined;
  }
}

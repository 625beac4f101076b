/**
 * A CLIP-style pair of encoders: an image model and a text model (ONNX files
 * the user supplies, e.g. exported from a Hugging Face CLIP), plus a
 * `tokenizer.json` read by @huggingface/tokenizers. Embeddings come back
 * L2-normalised, so image–text cosine is a dot product.
 */
import { readFile } from 'node:fs/promises';

import { FusionrankError, invalidParameter, rangeError, typeError, withCallerStack } from '../errors.js';
import type { ImagePool } from '../ingest/image-pool.js';
import { fileError, type ImageInput, requireImageInput } from '../ingest/input.js';
import { type PreprocessOptions, type ResolvedPreprocess, preprocessImage, resolvePreprocess } from '../ingest/preprocess.js';
import { withBackpressure } from '../ingest/task-pool.js';
import { loadOptional } from '../util/optional.js';
import { optionalOptions } from '../util/validate.js';
import { type Device, type MicroBatchOptions, OnnxModel, type OnnxModelOptions, type OutputTensor, type TensorInfo, type TensorLike } from './onnx-model.js';

export interface ClipEncoderOptions {
  /** The image model: a path, its bytes, or a loaded OnnxModel. Input [batch, 3, H, W] float32. */
  image?: string | Uint8Array | OnnxModel;
  /** The text model: a path, its bytes, or a loaded OnnxModel. Inputs input_ids (+ attention_mask), int64 or int32. */
  text?: string | Uint8Array | OnnxModel;
  /** tokenizer.json: a path, its JSON text, or the parsed object. Needed with `text`. */
  tokenizer?: string | object;
  /** tokenizer_config.json contents (optional; e.g. to set the pad token). */
  tokenizerConfig?: object;
  /** Execution provider for models given as paths or bytes (default 'auto'). */
  device?: Device;
  /** Micro-batching of the encoders' queues. */
  batch?: MicroBatchOptions;
  /** onnxruntime threads per operator for models given as paths or bytes (default: onnxruntime's choice). */
  intraOpThreads?: number;
  /** Image preprocessing (size defaults to the model's fixed input size, else 224). */
  preprocess?: PreprocessOptions;
  /** Decode images on this pool instead of sharp on the main thread's libuv pool. Its size must match the model. */
  images?: ImagePool;
  /** Token sequence length when the model leaves it dynamic (default: tokenizer.json truncation.max_length, else 77). */
  contextLength?: number;
  /** Pad token id (default: tokenizer.json padding.pad_id, else [PAD] / <pad> / <|endoftext|>, else 0). */
  padTokenId?: number;
  /** Output to read from the image model (default 'image_embeds', else the first [batch, dim] output). */
  imageOutput?: string;
  /** Output to read from the text model (default 'text_embeds' / 'sentence_embedding', else the first [batch, dim] output, else mean-pooled [batch, seq, dim]). */
  textOutput?: string;
}

type TokenizerInstance = {
  encode(text: string): { ids: number[]; attention_mask: number[] };
  token_to_id(token: string): number | undefined;
  get_added_tokens_decoder?(): Map<number, { special?: boolean }>;
};

interface ImageSide {
  model: OnnxModel;
  input: string;
  output: string;
  preprocess: ResolvedPreprocess;
  /** Embedding length: the output's fixed last axis, else measured once at load. */
  dim: number;
}

interface TextSide {
  model: OnnxModel;
  ids: TensorInfo;
  mask?: TensorInfo;
  typeIds?: TensorInfo;
  output: string;
  pooled: boolean;
  /** Embedding length: the output's fixed last axis, else measured once at load. */
  dim: number;
  tokenizer: TokenizerInstance;
  contextLength: number;
  padId: number;
  specialIds: Set<number>;
}

function notAnEncoder(kind: 'image' | 'text', model: OnnxModel, why: string): FusionrankError {
  const describeIo = (list: readonly TensorInfo[]) => list.map((t) => `${t.name}: ${t.type}[${t.shape.join(', ')}]`).join(', ');
  return new FusionrankError(
    `The ${kind} model does not look like a ${kind} encoder: ${why}. Its inputs are ${describeIo(model.inputs)}; its outputs are ${describeIo(model.outputs)}`,
    'ERR_FUSIONRANK_NOT_AN_ENCODER',
  );
}

/** The embedding length an output declares (its last axis), or 0 when the model leaves it dynamic. */
function declaredDim(info: TensorInfo): number {
  const last = info.shape[info.shape.length - 1];
  return typeof last === 'number' && last > 0 ? last : 0;
}

function pickOutput(kind: 'image' | 'text', model: OnnxModel, requested: string | undefined, preferred: string[]): { name: string; pooled: boolean; dim: number } {
  if (requested !== undefined) {
    const info = model.outputs.find((o) => o.name === requested);
    if (!info) throw notAnEncoder(kind, model, `there is no output '${requested}'`);
    if (info.type !== 'float32' || (info.shape.length !== 2 && !(kind === 'text' && info.shape.length === 3))) throw notAnEncoder(kind, model, `output '${requested}' is not a float32 [batch, dim] tensor`);
    return { name: requested, pooled: info.shape.length === 3, dim: declaredDim(info) };
  }
  const floats = model.outputs.filter((o) => o.type === 'float32');
  const named = floats.find((o) => preferred.includes(o.name) && o.shape.length === 2);
  if (named) return { name: named.name, pooled: false, dim: declaredDim(named) };
  const flat = floats.find((o) => o.shape.length === 2);
  if (flat) return { name: flat.name, pooled: false, dim: declaredDim(flat) };
  const hidden = kind === 'text' ? floats.find((o) => o.shape.length === 3) : undefined;
  if (hidden) return { name: hidden.name, pooled: true, dim: declaredDim(hidden) };
  throw notAnEncoder(kind, model, `no float32 output of shape [batch, dim]${kind === 'text' ? ' or [batch, seq, dim]' : ''}`);
}

/** L2-normalises each `dim`-long row of `data` into its own Float32Array. */
function normalisedRows(data: Float32Array, rows: number): Float32Array[] {
  const dim = data.length / rows;
  const out: Float32Array[] = [];
  for (let r = 0; r < rows; r++) {
    const row = data.slice(r * dim, (r + 1) * dim);
    let norm = 0;
    for (let i = 0; i < dim; i++) norm += row[i] * row[i];
    norm = Math.sqrt(norm);
    if (!Number.isFinite(norm)) throw new FusionrankError('The encoder produced a non-finite embedding', 'ERR_FUSIONRANK_NON_FINITE');
    if (norm > 0) for (let i = 0; i < dim; i++) row[i] /= norm;
    out.push(row);
  }
  return out;
}

async function loadModel(source: unknown, name: string, options: OnnxModelOptions): Promise<{ model: OnnxModel; owned: boolean }> {
  if (source instanceof OnnxModel) return { model: source, owned: false };
  if (typeof source !== 'string' && !(source instanceof Uint8Array)) throw typeError(invalidParameter(name, 'a model path, model bytes or an OnnxModel', source));
  return { model: await OnnxModel.load(source, options), owned: true };
}

async function loadTokenizer(source: unknown, config: object | undefined): Promise<{ tokenizer: TokenizerInstance; json: Record<string, unknown> }> {
  let json: unknown = source;
  if (typeof source === 'string') {
    let text = source;
    if (!source.trimStart().startsWith('{')) {
      try {
        text = await readFile(source, 'utf8');
      } catch (error) {
        throw fileError(error, source);
      }
    }
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new FusionrankError(`The tokenizer file is not valid JSON: ${(error as Error).message}`, 'ERR_FUSIONRANK_INVALID_TOKENIZER', { cause: error });
    }
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw typeError(invalidParameter('tokenizer', 'a tokenizer.json path, its text or its parsed object', source), 'ERR_FUSIONRANK_INVALID_TOKENIZER');
  if (!('model' in json)) throw new FusionrankError("The tokenizer JSON has no 'model' section; is it a Hugging Face tokenizer.json?", 'ERR_FUSIONRANK_INVALID_TOKENIZER');
  const { Tokenizer } = await loadOptional<{ Tokenizer: new (json: object, config: object) => TokenizerInstance }>('@huggingface/tokenizers');
  try {
    const tokenizer = new Tokenizer(json, config ?? {});
    tokenizer.encode('a test');
    return { tokenizer, json: json as Record<string, unknown> };
  } catch (error) {
    throw new FusionrankError(`The tokenizer cannot be used: ${(error as Error)?.message ?? error}`, 'ERR_FUSIONRANK_INVALID_TOKENIZER', { cause: error });
  }
}

/**
 * @example
 * const clip = await ClipEncoder.load({ image: 'vision_model.onnx', text: 'text_model.onnx', tokenizer: 'tokenizer.json', device: 'auto' });
 * const [img] = await clip.encodeImages(['cat.jpg']);
 * const [txt] = await clip.encodeTexts(['a photo of a cat']);
 * let cosine = 0; for (let i = 0; i < img.length; i++) cosine += img[i] * txt[i];
 */
export class ClipEncoder {
  readonly #image: ImageSide | undefined;
  readonly #text: TextSide | undefined;
  readonly #pool: ImagePool | undefined;
  readonly #owned: OnnxModel[];

  private constructor(image: ImageSide | undefined, text: TextSide | undefined, pool: ImagePool | undefined, owned: OnnxModel[]) {
    this.#image = image;
    this.#text = text;
    this.#pool = pool;
    this.#owned = owned;
  }

  /**
   * Loads the models and the tokenizer and checks that they fit together.
   * @example const clip = await ClipEncoder.load({ image: imageBytes, device: 'cpu' });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when neither model is given or an option is wrong
   * @throws {FusionrankError} ERR_FUSIONRANK_NOT_AN_ENCODER when a model's inputs/outputs do not look like an image or text encoder
   * @throws {FusionrankError} ERR_FUSIONRANK_INVALID_TOKENIZER when tokenizer.json does not parse or cannot tokenize
   * @throws {FusionrankError} ERR_FUSIONRANK_INVALID_MODEL, ERR_FUSIONRANK_FILE_NOT_FOUND, ERR_FUSIONRANK_CUDA_UNAVAILABLE, ERR_FUSIONRANK_MISSING_DEPENDENCY
   * @throws {FusionrankError} ERR_FUSIONRANK_INFERENCE_FAILED when a model that leaves its embedding length dynamic fails the one run that measures it
   */
  static async load(options: ClipEncoderOptions): Promise<ClipEncoder> {
    const caller = new Error();
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object such as { image, text, tokenizer }', options));
    if (options.image === undefined && options.text === undefined) throw typeError(invalidParameter('options', 'at least one of image or text', options));
    if (options.text !== undefined && options.tokenizer === undefined) throw typeError(invalidParameter('tokenizer', 'a tokenizer.json (needed with a text model)', options.tokenizer));
    const batch = optionalOptions<MicroBatchOptions>(options.batch, 'batch');
    const modelOptions: OnnxModelOptions = { device: options.device ?? 'auto', batch, ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}) };
    const owned: OnnxModel[] = [];
    try {
      let image: ImageSide | undefined;
      if (options.image !== undefined) {
        const loaded = await loadModel(options.image, 'image', modelOptions);
        if (loaded.owned) owned.push(loaded.model);
        image = ClipEncoder.#imageSide(loaded.model, options);
      }
      let text: TextSide | undefined;
      if (options.text !== undefined) {
        const loaded = await loadModel(options.text, 'text', modelOptions);
        if (loaded.owned) owned.push(loaded.model);
        text = await ClipEncoder.#textSide(loaded.model, options);
      }
      if (options.images !== undefined && image && options.images.size !== image.preprocess.size)
        throw rangeError(`The image pool produces ${options.images.size} x ${options.images.size} inputs but the image model needs ${image.preprocess.size} x ${image.preprocess.size}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
      const encoder = new ClipEncoder(image, text, options.images, owned);
      // A model that leaves the embedding axis dynamic is measured once, so
      // catalogs can be checked against it before any item is ingested.
      if (image && image.dim === 0) image.dim = (await encoder.encodeImages([new Float32Array(3 * image.preprocess.size * image.preprocess.size)]))[0].length;
      if (text && text.dim === 0) text.dim = (await encoder.encodeTexts(['a']))[0].length;
      return encoder;
    } catch (error) {
      await Promise.all(owned.map((m) => m.close()));
      throw withCallerStack(error, caller);
    }
  }

  static #imageSide(model: OnnxModel, options: ClipEncoderOptions): ImageSide {
    if (model.inputs.length !== 1) throw notAnEncoder('image', model, `expected one pixel input, found ${model.inputs.length} inputs`);
    const input = model.inputs[0];
    const [, channels, height, width] = input.shape;
    if (input.type !== 'float32' || input.shape.length !== 4 || (typeof channels === 'number' && channels !== 3))
      throw notAnEncoder('image', model, `input '${input.name}' is not a float32 [batch, 3, height, width] tensor`);
    if (typeof height === 'number' && typeof width === 'number' && height !== width) throw notAnEncoder('image', model, `input '${input.name}' is not square (${height} x ${width})`);
    const fixed = typeof height === 'number' ? height : undefined;
    const preprocess = resolvePreprocess(options.preprocess ?? {}, fixed ?? 224);
    if (fixed !== undefined && preprocess.size !== fixed)
      throw rangeError(`preprocess.size is ${preprocess.size} but the image model takes ${fixed} x ${fixed} inputs`, 'ERR_FUSIONRANK_DIM_MISMATCH');
    const { name, dim } = pickOutput('image', model, options.imageOutput, ['image_embeds', 'embeddings']);
    return { model, input: input.name, output: name, preprocess, dim };
  }

  static async #textSide(model: OnnxModel, options: ClipEncoderOptions): Promise<TextSide> {
    const integer = (t: TensorInfo) => (t.type === 'int64' || t.type === 'int32') && t.shape.length === 2;
    const ids = model.inputs.find((i) => i.name === 'input_ids') ?? (model.inputs.length === 1 ? model.inputs[0] : undefined);
    if (!ids || !integer(ids)) throw notAnEncoder('text', model, "no int64/int32 [batch, sequence] 'input_ids' input");
    const mask = model.inputs.find((i) => i.name === 'attention_mask');
    const typeIds = model.inputs.find((i) => i.name === 'token_type_ids');
    for (const extra of model.inputs) {
      if (extra !== ids && extra !== mask && extra !== typeIds) throw notAnEncoder('text', model, `unexpected input '${extra.name}'`);
      if (!integer(extra)) throw notAnEncoder('text', model, `input '${extra.name}' is not an int64/int32 [batch, sequence] tensor`);
    }
    const { name, pooled, dim } = pickOutput('text', model, options.textOutput, ['text_embeds', 'sentence_embedding', 'pooler_output']);
    const { tokenizer, json } = await loadTokenizer(options.tokenizer, options.tokenizerConfig);
    const fixedLength = typeof ids.shape[1] === 'number' ? ids.shape[1] : undefined;
    const truncation = json.truncation as { max_length?: number } | null | undefined;
    const contextLength = fixedLength ?? options.contextLength ?? truncation?.max_length ?? 77;
    if (!Number.isInteger(contextLength) || contextLength < 2 || contextLength > 1_000_000) throw rangeError(invalidParameter('contextLength', 'an integer in [2, 1000000]', contextLength));
    if (fixedLength !== undefined && options.contextLength !== undefined && options.contextLength !== fixedLength)
      throw rangeError(`contextLength is ${options.contextLength} but the text model takes sequences of ${fixedLength}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
    const padding = json.padding as { pad_id?: number } | null | undefined;
    const padId =
      options.padTokenId ??
      padding?.pad_id ??
      ['[PAD]', '<pad>', '<|endoftext|>'].map((t) => tokenizer.token_to_id(t)).find((id) => id !== undefined) ??
      0;
    if (!Number.isInteger(padId) || padId < 0) throw rangeError(invalidParameter('padTokenId', 'a non-negative integer', padId));
    const specialIds = new Set<number>();
    for (const [id, token] of tokenizer.get_added_tokens_decoder?.() ?? []) if (token.special) specialIds.add(id);
    return { model, ids, mask, typeIds, output: name, pooled, dim, tokenizer, contextLength, padId, specialIds };
  }

  /** Side of the square image input, or undefined without an image model. */
  get imageSize(): number | undefined {
    return this.#image?.preprocess.size;
  }

  /** Token sequence length fed to the text model, or undefined without one. */
  get contextLength(): number | undefined {
    return this.#text?.contextLength;
  }

  /**
   * Length of the image embeddings, or undefined without an image model.
   * @example new Catalog({ vectors: { visual: { dim: clip.imageDim! } } });
   */
  get imageDim(): number | undefined {
    return this.#image?.dim;
  }

  /**
   * Length of the text embeddings, or undefined without a text model.
   * @example new Catalog({ vectors: { text: { dim: clip.textDim! } } });
   */
  get textDim(): number | undefined {
    return this.#text?.dim;
  }

  /** Whether an image model / a text model is loaded. */
  get hasImage(): boolean {
    return this.#image !== undefined;
  }

  get hasText(): boolean {
    return this.#text !== undefined;
  }

  /** The execution providers in use. */
  get devices(): { image?: 'cpu' | 'cuda'; text?: 'cpu' | 'cuda' } {
    return { image: this.#image?.model.device, text: this.#text?.model.device };
  }

  /**
   * Decodes (on the ImagePool when one was given) and preprocesses one image
   * into the model's `3 x size x size` input.
   * @example const pixels = await clip.preprocess('cat.jpg');
   * @throws the errors of ImagePool.preprocess, and ERR_FUSIONRANK_INVALID_ARGUMENT without an image model
   */
  async preprocess(input: ImageInput): Promise<Float32Array> {
    const side = this.#requireImage();
    requireImageInput(input, 'input');
    const pool = this.#pool;
    return pool ? withBackpressure(pool, () => pool.preprocess(input)) : preprocessImage(input, side.preprocess);
  }

  /**
   * Encodes images (paths, encoded bytes, or already preprocessed `3 x size x size` Float32Arrays) into L2-normalised embeddings, one per input.
   * Concurrent calls share model runs through the micro-batcher. With `transfer`, preprocessed Float32Arrays
   * are handed to the session thread instead of copied (they are detached afterwards).
   * @example const [a, b] = await clip.encodeImages(['a.jpg', bufferB]);
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when inputs is not an array of images, or there is no image model
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when a Float32Array is not 3 x size x size
   * @throws the decoding errors of ImagePool.preprocess and the inference errors of OnnxModel.run
   */
  async encodeImages(inputs: ReadonlyArray<ImageInput | Float32Array>, options: { transfer?: boolean } = {}): Promise<Float32Array[]> {
    const caller = new Error();
    const side = this.#requireImage();
    if (!Array.isArray(inputs)) throw typeError(invalidParameter('inputs', 'an array of image paths, bytes or preprocessed Float32Arrays', inputs));
    const plane = 3 * side.preprocess.size * side.preprocess.size;
    inputs.forEach((input, i) => {
      if (input instanceof Float32Array) {
        if (input.length !== plane) throw rangeError(`inputs[${i}] has ${input.length} floats but the image model needs 3 x ${side.preprocess.size} x ${side.preprocess.size} = ${plane}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
      } else requireImageInput(input, `inputs[${i}]`);
    });
    if (inputs.length === 0) return [];
    // Decode a bounded number at a time: a thousand paths must not mean a thousand decoded images in memory.
    const pixels: Float32Array[] = new Array(inputs.length);
    let next = 0;
    const decodeAhead = this.#pool ? Math.max(1, this.#pool.poolOptions.threads * this.#pool.poolOptions.tasksPerThread + this.#pool.poolOptions.maxQueue) : 8;
    await Promise.all(
      Array.from({ length: Math.min(decodeAhead, inputs.length) }, async () => {
        while (next < inputs.length) {
          const i = next++;
          const input = inputs[i];
          pixels[i] = input instanceof Float32Array ? input : await this.preprocess(input);
        }
      }),
    );
    const size = side.preprocess.size;
    try {
      return await this.#runChunks(side.model, pixels.length, (start, end) => {
        // One image: its pixels as they are, moved when we made them; several: one contiguous batch.
        const single = end - start === 1;
        const data = single ? pixels[start] : new Float32Array((end - start) * plane);
        if (!single) for (let i = start; i < end; i++) data.set(pixels[i], (i - start) * plane);
        return { feeds: { [side.input]: { data, dims: [end - start, 3, size, size] } }, transfer: !single || !(inputs[start] instanceof Float32Array) || options.transfer === true };
      }, (out, start, stop) => this.#embeddings(out, side.output, stop - start));
    } catch (error) {
      throw withCallerStack(error, caller);
    }
  }

  /**
   * Tokenizes (padded/truncated to the context length, with an attention mask) and encodes texts into L2-normalised embeddings.
   * @example const [query] = await clip.encodeTexts(['summer sale']);
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when texts is not an array of strings, or there is no text model
   * @throws {RangeError} ERR_FUSIONRANK_EMPTY_TEXT when a text is empty or only whitespace
   * @throws the inference errors of OnnxModel.run
   */
  async encodeTexts(texts: readonly string[]): Promise<Float32Array[]> {
    const caller = new Error();
    const side = this.#requireText();
    if (!Array.isArray(texts)) throw typeError(invalidParameter('texts', 'an array of strings', texts));
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw typeError(invalidParameter(`texts[${i}]`, 'a string', t));
      if (t.trim().length === 0) throw rangeError(invalidParameter(`texts[${i}]`, 'a non-empty text', t), 'ERR_FUSIONRANK_EMPTY_TEXT');
    });
    if (texts.length === 0) return [];
    const L = side.contextLength;
    const encoded = texts.map((t) => this.#tokenize(side, t));
    try {
      return await this.#runChunks(side.model, texts.length, (start, end) => {
        const n = end - start;
        const feeds: Record<string, TensorLike> = {};
        const ids = side.ids.type === 'int64' ? new BigInt64Array(n * L) : new Int32Array(n * L);
        const mask = side.mask?.type === 'int32' ? new Int32Array(n * L) : new BigInt64Array(n * L);
        for (let r = 0; r < n; r++) {
          const { ids: tokenIds, length } = encoded[start + r];
          for (let j = 0; j < L; j++) {
            const id = j < length ? tokenIds[j] : side.padId;
            if (ids instanceof BigInt64Array) ids[r * L + j] = BigInt(id);
            else ids[r * L + j] = id;
            if (mask instanceof BigInt64Array) mask[r * L + j] = j < length ? 1n : 0n;
            else mask[r * L + j] = j < length ? 1 : 0;
          }
        }
        feeds[side.ids.name] = { data: ids, dims: [n, L] };
        if (side.mask) feeds[side.mask.name] = { data: mask, dims: [n, L] };
        if (side.typeIds) feeds[side.typeIds.name] = { data: side.typeIds.type === 'int32' ? new Int32Array(n * L) : new BigInt64Array(n * L), dims: [n, L] };
        return { feeds, transfer: true };
      }, (out, start, end) => {
        const tensor = out[side.output];
        if (!side.pooled) return this.#embeddings(out, side.output, end - start);
        return this.#meanPool(tensor, encoded.slice(start, end).map((e) => e.length));
      });
    } catch (error) {
      throw withCallerStack(error, caller);
    }
  }

  /**
   * Stops the sessions this encoder loaded (models passed in as OnnxModel are left open).
   * @example await clip.close();
   * @throws never
   */
  async close(): Promise<void> {
    await Promise.all(this.#owned.map((m) => m.close()));
  }

  #tokenize(side: TextSide, text: string): { ids: number[]; length: number } {
    const { ids } = side.tokenizer.encode(text);
    const L = side.contextLength;
    if (ids.length <= L) return { ids, length: ids.length };
    // Truncate, keeping a closing special token (CLIP's <|endoftext|>, BERT's [SEP]) in the last slot.
    const truncated = ids.slice(0, L);
    const last = ids[ids.length - 1];
    if (side.specialIds.has(last)) truncated[L - 1] = last;
    return { ids: truncated, length: L };
  }

  async #runChunks(
    model: OnnxModel,
    count: number,
    feedsFor: (start: number, end: number) => { feeds: Record<string, TensorLike>; transfer: boolean },
    read: (out: Record<string, OutputTensor>, start: number, end: number) => Float32Array[],
  ): Promise<Float32Array[]> {
    const step = model.batch.maxBatch;
    const chunks: Array<Promise<Float32Array[]>> = [];
    for (let start = 0; start < count; start += step) {
      const end = Math.min(count, start + step);
      const { feeds, transfer } = feedsFor(start, end);
      chunks.push(model.submit(feeds, { transfer }).then((out) => read(out, start, end)));
    }
    return (await Promise.all(chunks)).flat();
  }

  #embeddings(out: Record<string, OutputTensor>, name: string, rows: number): Float32Array[] {
    const tensor = out[name];
    if (!tensor || !(tensor.data instanceof Float32Array) || tensor.dims.length !== 2 || tensor.dims[0] !== rows)
      throw new FusionrankError(`The encoder output '${name}' is not a float32 [${rows}, dim] tensor (got ${tensor ? `[${tensor.dims.join(', ')}]` : 'nothing'})`, 'ERR_FUSIONRANK_INFERENCE_FAILED');
    return normalisedRows(tensor.data, rows);
  }

  #meanPool(tensor: OutputTensor, lengths: number[]): Float32Array[] {
    const [rows, seq, dim] = tensor.dims;
    const data = tensor.data as Float32Array;
    const pooled = new Float32Array(rows * dim);
    for (let r = 0; r < rows; r++) {
      const n = Math.max(1, Math.min(seq, lengths[r]));
      for (let t = 0; t < n; t++) for (let d = 0; d < dim; d++) pooled[r * dim + d] += data[(r * seq + t) * dim + d] / n;
    }
    return normalisedRows(pooled, rows);
  }

  #requireImage(): ImageSide {
    if (!this.#image) throw typeError('This ClipEncoder has no image model; pass { image } to ClipEncoder.load');
    return this.#image;
  }

  #requireText(): TextSide {
    if (!this.#text) throw typeError('This ClipEncoder has no text model; pass { text, tokenizer } to ClipEncoder.load');
    return this.#text;
  }
}

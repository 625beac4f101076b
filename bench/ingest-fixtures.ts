/**
 * Tiny, self-made stand-ins for CLIP used by the ingest tests and bench (no
 * downloads): ONNX image and text encoders written with @bufbuild/protobuf
 * (the messages of src/rerank/onnx_pb.ts), a WordPiece tokenizer.json, and
 * images drawn with sharp.
 */
import { create, type MessageInitShape, toBinary } from '@bufbuild/protobuf';

import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  type GraphProto,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType as DataType,
  TensorProtoSchema,
  ValueInfoProtoSchema,
} from '../src/rerank/onnx_pb.js';
import { rng } from './harness.js';

type Dim = number | string;

function valueInfo(name: string, elemType: number, dims: Dim[]) {
  return create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: 'tensorType',
        value: { elemType, shape: { dim: dims.map((d) => ({ value: typeof d === 'string' ? { case: 'dimParam' as const, value: d } : { case: 'dimValue' as const, value: BigInt(d) } })) } },
      },
    },
  });
}

function floatInitializer(name: string, dims: number[], values: Float32Array) {
  return create(TensorProtoSchema, { name, dataType: DataType.FLOAT, dims: dims.map(BigInt), rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
}

function intsAttribute(name: string, ints: number[]) {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: ints.map(BigInt) });
}

function intAttribute(name: string, i: number) {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(i) });
}

function node(init: MessageInitShape<typeof NodeProtoSchema>) {
  return create(NodeProtoSchema, init);
}

function graphProto(init: MessageInitShape<typeof GraphProtoSchema>): GraphProto {
  return create(GraphProtoSchema, init);
}

function encodeModel(graph: GraphProto): Uint8Array {
  const model = create(ModelProtoSchema, { irVersion: 7n, opsetImport: [{ domain: '', version: 13n }], producerName: 'fusionrank-fixtures', graph });
  return toBinary(ModelProtoSchema, model);
}

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const random = rng(seed);
  const out = new Float32Array(rows * cols);
  const scale = 1 / Math.sqrt(rows);
  for (let i = 0; i < out.length; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}

export interface ImageEncoderSpec {
  /** Side of the square input (default 16). */
  size?: number;
  /** Embedding dimension (default 8). */
  dim?: number;
  seed?: number;
  /** Fix the batch axis to this number instead of a dynamic 'batch'. */
  fixedBatch?: number;
  /** The [3·size·size, dim] projection (default: seeded random). */
  projection?: Float32Array;
  /** Declare the embedding axis as dynamic ('dim') instead of its number. */
  dynamicDim?: boolean;
}

/** pixel_values [batch, 3, S, S] → Flatten → Gemm(W) → image_embeds [batch, dim]. */
export function imageEncoderModel(spec: ImageEncoderSpec = {}): Uint8Array {
  const size = spec.size ?? 16, dim = spec.dim ?? 8;
  const batch: Dim = spec.fixedBatch ?? 'batch';
  const features = 3 * size * size;
  return encodeModel(
    graphProto({
      name: 'tiny_clip_vision',
      node: [
        node({ opType: 'Flatten', input: ['pixel_values'], output: ['flat'], attribute: [intAttribute('axis', 1)] }),
        node({ opType: 'Gemm', input: ['flat', 'projection'], output: ['image_embeds'] }),
      ],
      initializer: [floatInitializer('projection', [features, dim], spec.projection ?? randomMatrix(features, dim, spec.seed ?? 7))],
      input: [valueInfo('pixel_values', DataType.FLOAT, [batch, 3, size, size])],
      output: [valueInfo('image_embeds', DataType.FLOAT, [batch, spec.dynamicDim ? 'dim' : dim])],
    }),
  );
}

export interface TextEncoderSpec {
  vocabSize: number;
  dim?: number;
  /** Sequence length; a number fixes it in the model, a string leaves it dynamic (default 16). */
  contextLength?: Dim;
  seed?: number;
  /** Emit [batch, seq, dim] hidden states instead of pooled [batch, dim]. */
  hiddenStates?: boolean;
  /** The [vocabSize, dim] token embedding table (default: seeded random). */
  embedding?: Float32Array;
  /** Declare the embedding axis as dynamic ('dim') instead of its number. */
  dynamicDim?: boolean;
}

/**
 * input_ids, attention_mask [batch, L] int64 → Gather(embedding table) → × mask →
 * ReduceMean over the sequence → text_embeds [batch, dim] (or hidden states).
 */
export function textEncoderModel(spec: TextEncoderSpec): Uint8Array {
  const dim = spec.dim ?? 8;
  const length = spec.contextLength ?? 16;
  const nodes = [
    node({ opType: 'Gather', input: ['token_embedding', 'input_ids'], output: ['tokens'], attribute: [intAttribute('axis', 0)] }),
    node({ opType: 'Cast', input: ['attention_mask'], output: ['mask_f'], attribute: [intAttribute('to', DataType.FLOAT)] }),
    node({ opType: 'Unsqueeze', input: ['mask_f', 'axis_2'], output: ['mask_3d'] }),
    node({ opType: 'Mul', input: ['tokens', 'mask_3d'], output: spec.hiddenStates ? ['last_hidden_state'] : ['masked'] }),
  ];
  if (!spec.hiddenStates)
    nodes.push(node({ opType: 'ReduceMean', input: ['masked'], output: ['text_embeds'], attribute: [intsAttribute('axes', [1]), intAttribute('keepdims', 0)] }));
  return encodeModel(
    graphProto({
      name: 'tiny_clip_text',
      node: nodes,
      initializer: [
        floatInitializer('token_embedding', [spec.vocabSize, dim], spec.embedding ?? randomMatrix(spec.vocabSize, dim, spec.seed ?? 11)),
        create(TensorProtoSchema, { name: 'axis_2', dataType: DataType.INT64, dims: [1n], int64Data: [2n] }),
      ],
      input: [valueInfo('input_ids', DataType.INT64, ['batch', length]), valueInfo('attention_mask', DataType.INT64, ['batch', length])],
      output: spec.hiddenStates
        ? [valueInfo('last_hidden_state', DataType.FLOAT, ['batch', length, spec.dynamicDim ? 'dim' : dim])]
        : [valueInfo('text_embeds', DataType.FLOAT, ['batch', spec.dynamicDim ? 'dim' : dim])],
    }),
  );
}

/**
 * A pair of encoders whose embeddings are known in advance, for tests that
 * check a ranking: one axis per tokenizer word. A text embeds as the mean of
 * its words' one-hot vectors (special tokens add nothing); an image as
 * (mean red, mean blue) of its CLIP-normalised pixels on the 'red' and
 * 'blue' axes, so a red image is close to the text "red".
 */
export function wordAxisEncoders(size = 8, words: readonly string[] = TOKENIZER_WORDS): { image: Uint8Array; text: Uint8Array; tokenizer: string; dim: number } {
  const dim = words.length;
  const special = 4;
  const embedding = new Float32Array((special + dim) * dim);
  for (let w = 0; w < dim; w++) embedding[(special + w) * dim + w] = 1;
  const plane = size * size;
  const projection = new Float32Array(3 * plane * dim);
  const axis = (word: string) => {
    const i = words.indexOf(word);
    if (i < 0) throw new Error(`wordAxisEncoders: the words need '${word}'`);
    return i;
  };
  for (let p = 0; p < plane; p++) {
    projection[(0 * plane + p) * dim + axis('red')] = 1 / plane;
    projection[(2 * plane + p) * dim + axis('blue')] = 1 / plane;
  }
  return {
    image: imageEncoderModel({ size, dim, projection }),
    text: textEncoderModel({ vocabSize: special + dim, dim, contextLength: 16, embedding }),
    tokenizer: tokenizerJson(words),
    dim,
  };
}

/** A model that is neither an image nor a text encoder: x [batch, 10] float → Relu → y. */
export function notAnEncoderModel(): Uint8Array {
  return encodeModel(
    graphProto({
      name: 'not_an_encoder',
      node: [node({ opType: 'Relu', input: ['x'], output: ['y'] })],
      input: [valueInfo('x', DataType.FLOAT, ['batch', 10])],
      output: [valueInfo('y', DataType.FLOAT, ['batch', 10])],
    }),
  );
}

/** A dense model x [batch, inFeatures] → MatMul → y, heavy on weights (for the batching bench). */
export function denseModel(inFeatures: number, outFeatures: number, seed = 3): Uint8Array {
  return encodeModel(
    graphProto({
      name: 'dense',
      node: [node({ opType: 'MatMul', input: ['x', 'w'], output: ['y'] })],
      initializer: [floatInitializer('w', [inFeatures, outFeatures], randomMatrix(inFeatures, outFeatures, seed))],
      input: [valueInfo('x', DataType.FLOAT, ['batch', inFeatures])],
      output: [valueInfo('y', DataType.FLOAT, ['batch', outFeatures])],
    }),
  );
}

/** The words of the tiny tokenizer, after its special tokens. */
export const TOKENIZER_WORDS = ['summer', 'sale', 'off', 'cat', 'dog', 'sunset', 'beach', 'photo', 'of', 'a', 'the', 'meme', 'when', 'you', '50', '%', 'red', 'blue'];

/** A BERT-like WordPiece tokenizer.json: lowercase, whitespace split, [CLS] $A [SEP]. */
export function tokenizerJson(words: readonly string[] = TOKENIZER_WORDS): string {
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]'];
  const vocab: Record<string, number> = {};
  [...special, ...words].forEach((token, id) => (vocab[token] = id));
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  });
}

type Sharp = typeof import('sharp').default;

/** Loads sharp for fixtures (a dev dependency here). */
export async function fixtureSharp(): Promise<Sharp> {
  return ((await import('sharp')) as unknown as { default: Sharp }).default;
}

/** A w x h PNG of soft colour noise, different per seed. */
export async function noiseImage(width: number, height: number, seed: number, format: 'png' | 'jpeg' | 'webp' = 'jpeg'): Promise<Buffer> {
  const sharp = await fixtureSharp();
  const random = rng(seed);
  const pixels = Buffer.alloc(width * height * 3);
  const base = [random() * 255, random() * 255, random() * 255];
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.max(0, Math.min(255, base[i % 3] + (random() - 0.5) * 80 + ((i / 3) % width) / 8));
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
  return format === 'png' ? image.png().toBuffer() : format === 'webp' ? image.webp().toBuffer() : image.jpeg({ quality: 85 }).toBuffer();
}

/** A w x h PNG of one colour. */
export async function solidImage(r: number, g: number, b: number, width = 24, height = 24): Promise<Buffer> {
  const sharp = await fixtureSharp();
  return sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

/** Black text on white, e.g. 'SUMMER SALE 50% OFF', as a PNG. */
export async function textImage(text: string, width = 760, height = 120, fontSize = 40): Promise<Buffer> {
  const sharp = await fixtureSharp();
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const svg = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><rect width="100%" height="100%" fill="white"/><text x="20" y="${Math.round(height / 2 + fontSize / 3)}" font-family="sans-serif" font-size="${fontSize}" font-weight="bold" fill="black">${escaped}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    let c = (crc ^ byte) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A valid PNG header that declares width x height pixels (with almost no data behind it). */
export async function hugePngHeader(width = 50_000, height = 50_000): Promise<Buffer> {
  const { deflateSync } = await import('node:zlib');
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(16))), chunk('IEND', Buffer.alloc(0))]);
}

/** A meme: a caption band of black-on-white text over a noise "photo", as a PNG. */
export async function memeImage(text: string, width = 640, height = 480, seed = 5): Promise<Buffer> {
  const sharp = await fixtureSharp();
  const band = await textImage(text, width, 90, 44);
  const photo = await noiseImage(width, height, seed, 'png');
  return sharp(photo).composite([{ input: band, left: 0, top: 0 }]).png().toBuffer();
}

/** A screenshot of a text post: several lines of text filling the image, as a PNG. */
export async function screenshotImage(lines: readonly string[], width = 900, lineHeight = 56): Promise<Buffer> {
  const sharp = await fixtureSharp();
  const height = lineHeight * lines.length + 40;
  const escape = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rows = lines.map((line, i) => `<text x="20" y="${40 + i * lineHeight + lineHeight / 2}" font-family="sans-serif" font-size="40" fill="black">${escape(line)}</text>`).join('');
  const svg = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><rect width="100%" height="100%" fill="white"/>${rows}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

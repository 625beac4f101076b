/**
 * What the Ingestor writes, as a catalog schema: the vectors it fills (one
 * per encoder side), the fields it derives (alignment, contentType, OCR
 * text) and the user's fields. Used to build a matching Catalog, to check a
 * given one once up front, and to extend an existing one (the CLI).
 */
import type { CatalogSchema, FieldType, VectorSpec } from '../catalog/catalog.js';
import { FIELD_TYPES } from '../catalog/catalog.js';
import { invalidParameter, rangeError, typeError } from '../errors.js';
import { DTYPES, type Dtype } from '../retrieval/vector-store.js';

/** Catalog vector names for the two encoder sides; `null` encodes that side (for alignment) but does not store it. */
export interface IngestVectorNames {
  /** Default `'visual'`. */
  visual?: string | null;
  /** Default `'text'`. */
  text?: string | null;
}

/** Catalog field names for the derived values; `null` leaves one out. */
export interface IngestFieldNames {
  /** Image–text cosine, a `number` field (default `'alignment'`). */
  alignment?: string | null;
  /** `meme` | `aesthetic` | `mixed` | `text_only`, a `category` field (default `'contentType'`). */
  contentType?: string | null;
  /** The OCR text, a `category` field (default `null`: not stored). */
  ocrText?: string | null;
}

/** Options of `Ingestor.schema`. */
export interface IngestSchemaOptions {
  /** The user's own fields, e.g. `{ likes: 'number', createdAt: 'time', creator: 'category' }`. */
  fields?: Record<string, FieldType>;
  /** Storage type of the vectors: one for both, or per side (default `'f32'`). */
  dtype?: Dtype | { visual?: Dtype; text?: Dtype };
  vectorNames?: IngestVectorNames;
  fieldNames?: IngestFieldNames;
}

/** The embedding sides an encoder has, and their lengths when it declares them. */
export interface EncoderShape {
  readonly hasImage: boolean;
  readonly hasText: boolean;
  readonly imageDim?: number;
  readonly textDim?: number;
}

/** @internal */
export interface ResolvedNames {
  vectors: { visual: string | null; text: string | null };
  fields: { alignment: string | null; contentType: string | null; ocrText: string | null };
}

const DERIVED_TYPES = { alignment: 'number', contentType: 'category', ocrText: 'category' } as const satisfies Record<keyof ResolvedNames['fields'], FieldType>;

function resolveName(value: unknown, fallback: string | null, name: string): string | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (typeof value !== 'string' || value.length === 0) throw typeError(invalidParameter(name, 'a non-empty string, or null to leave it out', value));
  return value;
}

function optionalObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw typeError(invalidParameter(name, 'an object', value));
  return value as Record<string, unknown>;
}

/** @internal Validates and defaults `vectorNames` and `fieldNames`. */
export function resolveNames(vectorNames: unknown, fieldNames: unknown): ResolvedNames {
  const v = optionalObject(vectorNames, 'vectorNames');
  const f = optionalObject(fieldNames, 'fieldNames');
  const names: ResolvedNames = {
    vectors: { visual: resolveName(v.visual, 'visual', 'vectorNames.visual'), text: resolveName(v.text, 'text', 'vectorNames.text') },
    fields: {
      alignment: resolveName(f.alignment, 'alignment', 'fieldNames.alignment'),
      contentType: resolveName(f.contentType, 'contentType', 'fieldNames.contentType'),
      ocrText: resolveName(f.ocrText, null, 'fieldNames.ocrText'),
    },
  };
  const all = [...Object.values(names.vectors), ...Object.values(names.fields)].filter((n): n is string => n !== null);
  const twice = all.find((n, i) => all.indexOf(n) !== i);
  if (twice !== undefined) throw rangeError(`The name '${twice}' is given to two of the Ingestor's vectors/fields; each needs its own`, 'ERR_FUSIONRANK_DUPLICATE_NAME');
  return names;
}

function encoderDim(encoder: EncoderShape, side: 'image' | 'text'): number | undefined {
  const dim = side === 'image' ? encoder.imageDim : encoder.textDim;
  return Number.isInteger(dim) && (dim as number) > 0 ? dim : undefined;
}

/**
 * What the Ingestor will write into a catalog: vectors with their dims (0
 * when the encoder does not declare one) and derived fields with their types.
 * @internal
 */
export function writtenSchema(encoder: EncoderShape, names: ResolvedNames, withOcr: boolean): { vectors: Record<string, { dim: number; side: 'image' | 'text' }>; fields: Record<string, FieldType> } {
  const vectors: Record<string, { dim: number; side: 'image' | 'text' }> = {};
  if (encoder.hasImage && names.vectors.visual) vectors[names.vectors.visual] = { dim: encoderDim(encoder, 'image') ?? 0, side: 'image' };
  if (encoder.hasText && names.vectors.text) vectors[names.vectors.text] = { dim: encoderDim(encoder, 'text') ?? 0, side: 'text' };
  const fields: Record<string, FieldType> = {};
  if (encoder.hasImage && encoder.hasText && names.fields.alignment) fields[names.fields.alignment] = DERIVED_TYPES.alignment;
  if (names.fields.contentType) fields[names.fields.contentType] = DERIVED_TYPES.contentType;
  if (withOcr && encoder.hasImage && names.fields.ocrText) fields[names.fields.ocrText] = DERIVED_TYPES.ocrText;
  return { vectors, fields };
}

/**
 * Checks a catalog schema against what the Ingestor writes; throws one error
 * listing every problem. Extra vectors and fields in the catalog are fine.
 * @internal
 */
export function checkSchema(schema: CatalogSchema, written: ReturnType<typeof writtenSchema>): void {
  const dims: string[] = [];
  const missing: string[] = [];
  for (const [name, { dim, side }] of Object.entries(written.vectors)) {
    const spec = schema.vectors?.[name];
    if (!spec) missing.push(`it has no vector '${name}' for the ${side} embeddings${dim ? ` (dim ${dim})` : ''}`);
    else if (dim && spec.dim !== dim) dims.push(`the encoder's ${side} embeddings have ${dim} dimensions but the catalog's vector '${name}' has ${spec.dim}`);
  }
  for (const [name, type] of Object.entries(written.fields)) {
    const declared = schema.fields?.[name];
    if (!declared) missing.push(`it has no field '${name}' (${type})`);
    else if (declared !== type) missing.push(`its field '${name}' is '${declared}' but the Ingestor writes a ${type === 'number' ? 'number' : 'string'} ('${type}')`);
  }
  if (!dims.length && !missing.length) return;
  const hint = missing.length
    ? ". Build the catalog with new Catalog(Ingestor.schema(encoder, { fields })), or map the names with vectorNames / fieldNames (null leaves one out)"
    : '. Use the encoder the catalog was built with, or a new catalog';
  throw rangeError(`The catalog does not fit what this Ingestor writes: ${[...dims, ...missing].join('; ')}${hint}`, dims.length ? 'ERR_FUSIONRANK_DIM_MISMATCH' : 'ERR_FUSIONRANK_SCHEMA_MISMATCH');
}

/** @internal `Ingestor.schema`. */
export function ingestSchema(encoder: EncoderShape, options: IngestSchemaOptions = {}): CatalogSchema {
  if (encoder === null || typeof encoder !== 'object' || typeof encoder.hasImage !== 'boolean' || typeof encoder.hasText !== 'boolean')
    throw typeError(invalidParameter('encoder', 'an encoder with hasImage, hasText, imageDim and textDim (a ClipEncoder)', encoder));
  if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object such as { fields }', options));
  const names = resolveNames(options.vectorNames, options.fieldNames);
  const dtypes = options.dtype === undefined || typeof options.dtype === 'string' ? { visual: options.dtype, text: options.dtype } : optionalObject(options.dtype, 'dtype');
  const vectors: Record<string, VectorSpec> = {};
  for (const [key, side, name] of [['visual', 'image', names.vectors.visual], ['text', 'text', names.vectors.text]] as const) {
    if (!(side === 'image' ? encoder.hasImage : encoder.hasText) || !name) continue;
    const dim = encoderDim(encoder, side);
    if (dim === undefined) throw typeError(invalidParameter(`encoder.${side}Dim`, `the length of the ${side} embeddings (a positive integer)`, side === 'image' ? encoder.imageDim : encoder.textDim));
    const dtype = dtypes[key] ?? 'f32';
    if (!DTYPES.includes(dtype as Dtype)) throw rangeError(invalidParameter(`dtype.${key}`, `one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`, dtype), 'ERR_FUSIONRANK_UNKNOWN_DTYPE');
    vectors[name] = { dim, dtype: dtype as Dtype };
  }
  const written = writtenSchema(encoder, names, true);
  const fields: Record<string, FieldType> = {};
  for (const [name, type] of Object.entries(optionalObject(options.fields, 'fields'))) {
    if (!FIELD_TYPES.includes(type as FieldType)) throw rangeError(invalidParameter(`fields.${name}`, `one of ${FIELD_TYPES.map((t) => `'${t}'`).join(', ')}`, type), 'ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE');
    const derived = written.fields[name];
    if (derived !== undefined && derived !== type)
      throw rangeError(`Field '${name}' is declared '${type}' but the Ingestor writes a '${derived}' value there; rename one with fieldNames`, 'ERR_FUSIONRANK_SCHEMA_MISMATCH');
    if (name in vectors) throw rangeError(`Field '${name}' has the same name as a vector`, 'ERR_FUSIONRANK_DUPLICATE_NAME');
    fields[name] = type as FieldType;
  }
  return { vectors, fields: { ...written.fields, ...fields } };
}

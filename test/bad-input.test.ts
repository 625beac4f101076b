// Misuse gets a TypeError/RangeError with a code, nothing crashes, and the
// store is left exactly as it was.
import { describe, expect, it } from 'vitest';

import { VectorStore } from '../src/index.js';
import { native } from '../src/native.js';

const code = (c: string) => expect.objectContaining({ code: c });

function filled() {
  const store = new VectorStore({ dim: 4 });
  store.add(new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]));
  return store;
}

function expectUnchanged(store: VectorStore) {
  expect(store.size).toBe(2);
  expect(Array.from(store.get(0))).toEqual([1, 0, 0, 0]);
  expect(Array.from(store.get(1))).toEqual([0, 1, 0, 0]);
}

function detached(): Float32Array {
  const a = new Float32Array(4);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

describe('constructor', () => {
  it.each([
    [0, 'ERR_FUSIONRANK_INVALID_DIM', RangeError],
    [-3, 'ERR_FUSIONRANK_INVALID_DIM', RangeError],
    [1.5, 'ERR_FUSIONRANK_INVALID_DIM', RangeError],
    [65537, 'ERR_FUSIONRANK_INVALID_DIM', RangeError],
    [1e12, 'ERR_FUSIONRANK_INVALID_DIM', RangeError],
    [NaN, 'ERR_FUSIONRANK_INVALID_DIM', RangeError],
    ['768', 'ERR_FUSIONRANK_INVALID_DIM', TypeError],
  ])('dim %s is refused', (dim, c, cls) => {
    expect(() => new VectorStore({ dim: dim as number })).toThrow(cls);
    expect(() => new VectorStore({ dim: dim as number })).toThrow(code(c));
  });

  it('unknown dtype is refused, naming the valid ones', () => {
    expect(() => new VectorStore({ dim: 4, dtype: 'f64' as 'f32' })).toThrow(code('ERR_FUSIONRANK_UNKNOWN_DTYPE'));
    expect(() => new VectorStore({ dim: 4, dtype: 'f64' as 'f32' })).toThrow(/'f32', 'f16', 'i8'/);
  });

  it('non-object options are refused with the standard message', () => {
    expect(() => new VectorStore(null as never)).toThrow(TypeError);
    expect(() => new VectorStore(768 as never)).toThrow("Expected an object such as { dim: 768 } for options but received 768 of type number");
  });
});

describe('add / set', () => {
  it('wrong length is refused', () => {
    const store = filled();
    expect(() => store.add(new Float32Array(5))).toThrow(code('ERR_FUSIONRANK_DIM_MISMATCH'));
    expect(() => store.add(new Float32Array(0))).toThrow(code('ERR_FUSIONRANK_DIM_MISMATCH'));
    expect(() => store.set(0, new Float32Array(3))).toThrow(code('ERR_FUSIONRANK_DIM_MISMATCH'));
    expectUnchanged(store);
  });

  it('non-Float32Array input is refused with the standard message', () => {
    const store = filled();
    expect(() => store.add(new Float64Array(4) as never)).toThrow(
      'Expected a Float32Array for vectors but received Float64Array(4) of type Float64Array',
    );
    expect(() => store.add([1, 2, 3, 4] as never)).toThrow(TypeError);
    expect(() => store.add(undefined as never)).toThrow(code('ERR_FUSIONRANK_INVALID_ARGUMENT'));
    expectUnchanged(store);
  });

  it.each([NaN, Infinity, -Infinity])('%s anywhere in a batch rejects the whole batch', (bad) => {
    const store = filled();
    const batch = new Float32Array(12).fill(1);
    batch[9] = bad;
    expect(() => store.add(batch)).toThrow(RangeError);
    expect(() => store.add(batch)).toThrow(code('ERR_FUSIONRANK_NON_FINITE'));
    expect(() => store.set(0, batch.subarray(8))).toThrow(code('ERR_FUSIONRANK_NON_FINITE'));
    expectUnchanged(store);
  });

  it('set past the end is refused', () => {
    const store = filled();
    expect(() => store.set(2, new Float32Array(4))).toThrow(code('ERR_FUSIONRANK_ROW_OUT_OF_RANGE'));
    expect(() => store.set(1, new Float32Array(8))).toThrow(code('ERR_FUSIONRANK_ROW_OUT_OF_RANGE'));
    expect(() => store.set(-1, new Float32Array(4))).toThrow(code('ERR_FUSIONRANK_ROW_OUT_OF_RANGE'));
    expectUnchanged(store);
  });

  it('a detached buffer is refused', () => {
    const store = filled();
    expect(() => store.add(detached())).toThrow(code('ERR_FUSIONRANK_DETACHED_BUFFER'));
    expect(() => store.cosine(detached())).toThrow(code('ERR_FUSIONRANK_DETACHED_BUFFER'));
    expectUnchanged(store);
  });
});

describe('queries', () => {
  it('query of the wrong dim or type is refused', () => {
    const store = filled();
    expect(() => store.cosine(new Float32Array(3))).toThrow(code('ERR_FUSIONRANK_DIM_MISMATCH'));
    expect(() => store.topK(new Float32Array(5), 1)).toThrow(code('ERR_FUSIONRANK_DIM_MISMATCH'));
    expect(() => store.cosine([1, 0, 0, 0] as never)).toThrow(code('ERR_FUSIONRANK_INVALID_ARGUMENT'));
    expect(() => store.cosineMany(new Float32Array(6))).toThrow(code('ERR_FUSIONRANK_DIM_MISMATCH'));
  });

  it('NaN in a query is refused', () => {
    const store = filled();
    expect(() => store.cosine(new Float32Array([1, NaN, 0, 0]))).toThrow(code('ERR_FUSIONRANK_NON_FINITE'));
    expect(() => store.topK(new Float32Array([1, 0, Infinity, 0]), 1)).toThrow(code('ERR_FUSIONRANK_NON_FINITE'));
  });

  it('row ids out of range, or not a Uint32Array, are refused', () => {
    const store = filled();
    const q = new Float32Array([1, 0, 0, 0]);
    expect(() => store.cosine(q, new Uint32Array([0, 2]))).toThrow(code('ERR_FUSIONRANK_ROW_OUT_OF_RANGE'));
    expect(() => store.cosine(q, new Uint32Array([0, 2]))).toThrow(/rows\[1\] = 2/);
    expect(() => store.topK(q, 1, { rows: new Uint32Array([7]) })).toThrow(code('ERR_FUSIONRANK_ROW_OUT_OF_RANGE'));
    expect(() => store.cosine(q, [0, 1] as never)).toThrow(TypeError);
    expect(() => store.get(2)).toThrow(code('ERR_FUSIONRANK_ROW_OUT_OF_RANGE'));
    expect(() => store.isZero(9)).toThrow(code('ERR_FUSIONRANK_ROW_OUT_OF_RANGE'));
  });

  it.each([0, -1, 1.5, NaN, '3'])('k = %s is refused', (k) => {
    const store = filled();
    expect(() => store.topK(new Float32Array([1, 0, 0, 0]), k as number)).toThrow(code('ERR_FUSIONRANK_INVALID_K'));
  });

  it('topKAsync rejects (not throws) on bad input, with the caller in the stack', async () => {
    const store = filled();
    await expect(store.topKAsync(new Float32Array(3), 1)).rejects.toThrow(code('ERR_FUSIONRANK_DIM_MISMATCH'));
    await expect(store.topKAsync(new Float32Array(4), 1, { threads: 0 })).rejects.toThrow(code('ERR_FUSIONRANK_INVALID_ARGUMENT'));
    await expect(store.topKAsync(new Float32Array(4), 1, { rows: new Uint32Array([5]) })).rejects.toThrow(code('ERR_FUSIONRANK_ROW_OUT_OF_RANGE'));
  });
});

describe('direct native calls cannot crash the process', () => {
  it('guards every argument in C++ too', () => {
    const s = new native.NativeVectorStore(4, 'f32');
    const call = (fn: () => unknown) => expect(fn).toThrow();
    call(() => new native.NativeVectorStore(0, 'f32'));
    call(() => new native.NativeVectorStore(4, 'f64'));
    call(() => new (native.NativeVectorStore as unknown as new () => unknown)());
    call(() => s.add(undefined as never));
    call(() => s.add(new Float64Array(4) as never));
    call(() => s.add(new Float32Array(3)));
    call(() => s.get(0));
    call(() => s.cosine(new Float32Array(4), new Int32Array(1) as never));
    call(() => s.topK(new Float32Array(4), 0));
    call(() => s.topK(new Float32Array(4), -1));
    call(() => s.set(0, new Float32Array(4)));
    call(() => s.probeRead(new Uint32Array([3])));
    call(() => (s.topKAsync as unknown as (...a: unknown[]) => unknown)(new Float32Array(4), 1));
    expect(s.size()).toBe(0);
  });
});

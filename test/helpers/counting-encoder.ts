/** An IngestEncoder that counts calls through to a real ClipEncoder (dims included, so catalogs are checked). */
import type { ClipEncoder, IngestEncoder } from '../../src/index.js';

export class CountingEncoder implements IngestEncoder {
  imageCalls = 0;
  textCalls = 0;
  constructor(private readonly inner: ClipEncoder) {}
  get hasImage() {
    return this.inner.hasImage;
  }
  get hasText() {
    return this.inner.hasText;
  }
  get imageDim() {
    return this.inner.imageDim;
  }
  get textDim() {
    return this.inner.textDim;
  }
  encodeImages(inputs: Parameters<ClipEncoder['encodeImages']>[0], options?: { transfer?: boolean }) {
    this.imageCalls++;
    return this.inner.encodeImages(inputs, options);
  }
  encodeTexts(texts: readonly string[]) {
    this.textCalls++;
    return this.inner.encodeTexts(texts);
  }
}

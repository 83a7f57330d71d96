// Long texts are encoded on a worker thread with the same ids as in place, while this thread stays free;
// short ones are encoded in place; a closed encoder fails what it still held.
import { afterAll, describe, expect, it } from 'vitest';
import { BackgroundEncoder, BACKGROUND_ENCODE_MIN_CHARS, Tokenizer } from '../src/index.ts';
import { STORIES_DIR } from './model-dir.ts';

const tokenizer = Tokenizer.fromDir(STORIES_DIR);
const encoder = new BackgroundEncoder(tokenizer, STORIES_DIR);
afterAll(() => encoder.close());

describe('BackgroundEncoder', () => {
  it('gives the ids Tokenizer.encode gives, for long and short texts, with and without special tokens', async () => {
    const long = 'Once upon a time, there was a little girl named Lily. '.repeat(200);
    expect(long.length).toBeGreaterThan(BACKGROUND_ENCODE_MIN_CHARS);
    for (const text of [long, 'Once upon a time']) {
      for (const addSpecialTokens of [true, false]) {
        expect(await encoder.encode(text, { addSpecialTokens })).toEqual(tokenizer.encode(text, { addSpecialTokens }));
      }
    }
  });

  it('keeps this thread free while it encodes a long text', async () => {
    const long = 'The cat sat on the mat and looked at the sun. '.repeat(4_000); // ~190 kB: seconds of encoding
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const ids = await encoder.encode(long, { addSpecialTokens: false });
    clearInterval(timer);
    expect(ids.length).toBeGreaterThan(20_000);
    // in place, the encoding would hold the thread and no timer would fire until it ended
    expect(ticks).toBeGreaterThan(10);
  });

  it('fails encodings still pending when closed, and starts a fresh worker afterwards', async () => {
    const other = new BackgroundEncoder(tokenizer, STORIES_DIR);
    const pending = other.encode('x '.repeat(100_000)).then(
      () => 'encoded',
      (err: Error) => err.message,
    );
    await other.close();
    expect(await pending).toMatch(/closed/);
    expect(await other.encode('y'.repeat(5_000), { addSpecialTokens: false })).toEqual(tokenizer.encode('y'.repeat(5_000), { addSpecialTokens: false }));
    await other.close();
  });
});

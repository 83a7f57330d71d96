// Loading a model folder: config variants (AddedToken objects, add_bos_token, eos lists) and bad files.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Tokenizer, TokenizerFileError } from '../src/index.ts';
import { makeModelDir, readStoriesJson, removeModelDirs } from './model-dir.ts';

const config = readStoriesJson('tokenizer_config.json');
const tokenizerJson = readStoriesJson('tokenizer.json');
afterAll(removeModelDirs);

describe('tokenizer config variants', () => {
  it('accepts special tokens written as AddedToken objects', () => {
    const added = (content: string) => ({ __type: 'AddedToken', content, lstrip: false, rstrip: false, normalized: false });
    const dir = makeModelDir({ 'tokenizer_config.json': { ...config, bos_token: added('<s>'), eos_token: added('</s>') } });
    const tokenizer = Tokenizer.fromDir(dir);
    expect(tokenizer.bosTokenId).toBe(1);
    expect(tokenizer.specialTokens.eos).toBe('</s>');
  });

  it('honours add_bos_token false and add_eos_token true', () => {
    const dir = makeModelDir({ 'tokenizer_config.json': { ...config, add_bos_token: false, add_eos_token: true } });
    expect(Tokenizer.fromDir(dir).encode('Once upon a time')).toEqual([403, 407, 261, 378, 2]);
  });

  it("falls back to tokenizer.json's post-processor when the config has no add_bos_token", () => {
    const { add_bos_token: _drop, ...withoutFlag } = config;
    expect(Tokenizer.fromDir(makeModelDir({ 'tokenizer_config.json': withoutFlag })).encode('Once')).toEqual([1, 403]);
    const noPost = { ...tokenizerJson, post_processor: null };
    expect(
      Tokenizer.fromDir(makeModelDir({ 'tokenizer_config.json': withoutFlag, 'tokenizer.json': noPost })).encode('Once'),
    ).toEqual([403]);
  });

  it('collects every eos id from the config and a list in generation_config.json', () => {
    const dir = makeModelDir({ 'generation_config.json': { bos_token_id: 1, eos_token_id: [0, 2] } });
    const tokenizer = Tokenizer.fromDir(dir);
    expect(tokenizer.eosTokenId).toBe(2);
    expect([...tokenizer.eosTokenIds].sort()).toEqual([0, 2]);
  });

  it('works without generation_config.json, and takes eos from it when the config has none', () => {
    expect(Tokenizer.fromDir(makeModelDir({ 'generation_config.json': null })).eosTokenIds).toEqual([2]);
    const dir = makeModelDir({ 'tokenizer_config.json': { ...config, eos_token: null }, 'generation_config.json': { eos_token_id: 2 } });
    const tokenizer = Tokenizer.fromDir(dir);
    expect(tokenizer.eosTokenId).toBe(2);
    expect(tokenizer.specialTokens.eos).toBeNull();
  });
});

describe('bad tokenizer files', () => {
  function loadError(dir: string): TokenizerFileError {
    try {
      Tokenizer.fromDir(dir);
    } catch (err) {
      expect(err).toBeInstanceOf(TokenizerFileError);
      return err as TokenizerFileError;
    }
    throw new Error('expected Tokenizer.fromDir to fail');
  }

  it('names a missing tokenizer.json', () => {
    const dir = makeModelDir({ 'tokenizer.json': null });
    const err = loadError(dir);
    expect(err.file).toBe(join(dir, 'tokenizer.json'));
    expect(err.message).toContain('file not found');
  });

  it('names a missing tokenizer_config.json', () => {
    expect(loadError(makeModelDir({ 'tokenizer_config.json': null })).message).toMatch(/tokenizer_config\.json: file not found/);
  });

  it('names a file that is not JSON', () => {
    const err = loadError(makeModelDir({ 'tokenizer_config.json': '{"bos_token": "<s>",' }));
    expect(err.message).toMatch(/tokenizer_config\.json: is not valid JSON/);
  });

  it('names a tokenizer.json without a model', () => {
    const { model: _drop, ...noModel } = tokenizerJson;
    expect(loadError(makeModelDir({ 'tokenizer.json': noModel })).message).toMatch(/tokenizer\.json: .*field "model"/);
  });

  it('names a tokenizer.json of an unknown model type', () => {
    const bad = { ...tokenizerJson, model: { ...(tokenizerJson.model as object), type: 'Mystery' } };
    expect(loadError(makeModelDir({ 'tokenizer.json': bad })).message).toMatch(
      /tokenizer\.json: .*field "model\.type": .*"BPE"/,
    );
  });

  it('names a malformed eos_token_id in generation_config.json', () => {
    const err = loadError(makeModelDir({ 'generation_config.json': { eos_token_id: 'two' } }));
    expect(err.message).toMatch(/generation_config\.json: .*field "eos_token_id"/);
  });

  it('names a chat_template of the wrong type', () => {
    const err = loadError(makeModelDir({ 'tokenizer_config.json': { ...config, chat_template: 42 } }));
    expect(err.message).toMatch(/tokenizer_config\.json: .*field "chat_template"/);
  });

  it('names a bos_token that is not in the vocabulary', () => {
    const err = loadError(makeModelDir({ 'tokenizer_config.json': { ...config, bos_token: '<|begin|>' } }));
    expect(err.message).toContain('bos_token "<|begin|>" is not a token of tokenizer.json');
  });
});

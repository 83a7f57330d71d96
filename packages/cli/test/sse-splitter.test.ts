// The benchmark client's SSE splitter: events split anywhere across network pieces, CRLF, comments,
// multi-line data, and nothing after [DONE].
import { expect, it } from 'vitest';
import { SseSplitter } from '../src/bench/sse-splitter.ts';

const TEXT =
  'data: {"a":1}\n\n: keep-alive\n\ndata: {"b":"é"}\r\n\r\ndata: {"c":\ndata: 2}\n\nevent: x\n\ndata: [DONE]\n\ndata: {"after":true}\n\n';
const EXPECTED = ['{"a":1}', '{"b":"é"}', '{"c":\n2}'];

it('gives each event its data whether the text comes whole or a character at a time', () => {
  const whole = new SseSplitter();
  expect(whole.push(TEXT)).toEqual(EXPECTED);
  expect(whole.done).toBe(true);

  const split = new SseSplitter();
  const got: string[] = [];
  for (const ch of TEXT) got.push(...split.push(ch));
  expect(got).toEqual(EXPECTED);
  expect(split.done).toBe(true);
  expect(split.push('data: {"late":1}\n\n')).toEqual([]);
});

it('holds an unfinished event until its blank line arrives', () => {
  const s = new SseSplitter();
  expect(s.push('data: {"x":1}\n')).toEqual([]);
  expect(s.push('\ndata: {"y"')).toEqual(['{"x":1}']);
  expect(s.push(':2}\n\n')).toEqual(['{"y":2}']);
  expect(s.done).toBe(false);
});

// A chat template comes with the request, so one render is bounded: a loop of a million iterations, a
// string doubled past the size limit, a huge range() or nested loops are refused promptly with a
// ChatTemplateError that says which bound (chat-template.test.ts renders the real templates under them).
import { describe, expect, it } from 'vitest';
import { ChatTemplateError, Tokenizer } from '../src/index.ts';
import { STORIES_DIR } from './model-dir.ts';

const stories = Tokenizer.fromDir(STORIES_DIR);
const messages = [{ role: 'user' as const, content: 'hi' }];

function refusal(template: string): { message: string; ms: number } {
  const started = performance.now();
  try {
    stories.renderChat(messages, { template });
  } catch (err) {
    expect(err).toBeInstanceOf(ChatTemplateError);
    return { message: (err as Error).message, ms: performance.now() - started };
  }
  throw new Error(`the template rendered: ${template}`);
}

describe('chat template bounds', () => {
  it.each([
    ['a loop of 1,000,000 iterations', '{% for i in range(1000000) %}x{% endfor %}', /range\(\) of 1000000 items/],
    ['a loop of 5,000,000 iterations', '{% for i in range(5000000) %}{{ i }}{% endfor %}', /range\(\) of 5000000 items/],
    ['1,000 x 1,000 nested loops', '{% for i in range(1000) %}{% for j in range(1000) %}{{ j }}{% endfor %}{% endfor %}', /ran (more than 1000000 steps|longer than 1000 ms)/],
    ['nested loops with empty bodies', '{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}', /ran (more than 1000000 steps|longer than 1000 ms)/],
    ['a string doubled 40 times', "{% set s = 'ab' %}{% for i in range(40) %}{% set s = s + s %}{% endfor %}{{ s }}", /string longer than 16777216 characters/],
    ['a list doubled 40 times', '{% set l = [1] %}{% for i in range(40) %}{% set l = l + l %}{% endfor %}{{ l | length }}', /list longer than 100000 items/],
  ])('refuses %s within seconds, naming the bound', (_what, template, message) => {
    const { message: got, ms } = refusal(template);
    expect(got).toMatch(message);
    expect(ms).toBeLessThan(10_000); // unbounded, the first two take tens of seconds and gigabytes
  });

  it('leaves range() as jinja defines it for templates within the bounds', () => {
    expect(stories.renderChat(messages, { template: '{{ range(3) | join(",") }};{{ range(2, 8, 3) | join(",") }};{{ range(5, 0, -2) | join(",") }}' })).toBe(
      '0,1,2;2,5;5,3,1',
    );
  });
});

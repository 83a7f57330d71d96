// PagodaClient.embed and .rerank against a recording fetch: the request bodies they send, vectors put
// back in input order whatever order the server lists them in, and refusals as PagodaApiError.
import { describe, expect, it } from 'vitest';
import { cosine, PagodaApiError, PagodaClient, vectorNorm } from '../src/index.ts';

function recording(answer: (body: Record<string, unknown>) => { status: number; json: unknown }) {
  const sent: { url: string; body: Record<string, unknown> }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
    sent.push({ url: String(input), body });
    const a = answer(body);
    return new Response(JSON.stringify(a.json), {
      status: a.status,
      headers: { 'content-type': 'application/json' },
    });
  };
  return { client: new PagodaClient({ endpoint: 'http://pagoda.test', fetch }, {}), sent };
}

const usage = { prompt_tokens: 7, total_tokens: 7 };

describe('PagodaClient.embed', () => {
  it('sends floats with the dimensions asked and returns the vectors in input order', async () => {
    const { client, sent } = recording((body) => ({
      status: 200,
      json: {
        object: 'list',
        model: body.model,
        // Listed last input first: the client must not trust the order of `data`.
        data: (typeof body.input === 'string' ? [body.input] : (body.input as string[]))
          .map((t, index) => ({ object: 'embedding', index, embedding: [t.length, index] }))
          .reverse(),
        usage,
      },
    }));
    const got = await client.embed('e1', ['a', 'bbb', 'cc'], { dimensions: 2 });
    expect(sent).toEqual([
      {
        url: 'http://pagoda.test/v1/embeddings',
        body: { model: 'e1', input: ['a', 'bbb', 'cc'], encoding_format: 'float', dimensions: 2 },
      },
    ]);
    expect(got).toEqual({
      vectors: [
        [1, 0],
        [3, 1],
        [2, 2],
      ],
      model: 'e1',
      usage,
    });
    const one = await client.embed('e1', 'four');
    expect(one.vectors).toEqual([[4, 0]]);
  });

  it('refuses an answer that leaves an input out', async () => {
    const { client } = recording(() => ({
      status: 200,
      json: {
        object: 'list',
        model: 'e1',
        data: [{ object: 'embedding', index: 0, embedding: [1] }],
        usage,
      },
    }));
    await expect(client.embed('e1', ['a', 'b'])).rejects.toThrow(
      'the server answered /v1/embeddings without input 1',
    );
  });

  it("raises the server's refusal as a PagodaApiError", async () => {
    const message =
      "model 'l1' is a generative model: it serves /v1/chat/completions and /v1/completions, not /v1/embeddings";
    const { client } = recording(() => ({
      status: 400,
      json: { error: { message, type: 'invalid_request_error', param: 'model', code: null } },
    }));
    const err = await client.embed('l1', 'hi').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PagodaApiError);
    expect(err).toMatchObject({ status: 400, message, param: 'model' });
  });
});

describe('PagodaClient.rerank', () => {
  it('sends the query, documents and options and returns the results as ranked', async () => {
    const results = [
      { index: 1, relevance_score: 0.9, document: { text: 'y' } },
      { index: 0, relevance_score: 0.2, document: { text: 'x' } },
    ];
    const { client, sent } = recording(() => ({
      status: 200,
      json: { id: 'r', model: 'r1', results, usage, meta: {} },
    }));
    expect(
      await client.rerank('r1', 'q', ['x', 'y'], { top_n: 2, return_documents: true }),
    ).toEqual(results);
    expect(sent).toEqual([
      {
        url: 'http://pagoda.test/v1/rerank',
        body: { model: 'r1', query: 'q', documents: ['x', 'y'], top_n: 2, return_documents: true },
      },
    ]);
  });
});

describe('vector arithmetic', () => {
  it('gives the cosine the dashboard and the CLI show, and 0 for a vector without a direction', () => {
    expect(vectorNorm([3, 4])).toBe(5);
    expect(cosine([1, 0], [0, 2])).toBe(0);
    expect(cosine([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(cosine([1, 1], [-1, -1])).toBeCloseTo(-1, 12);
    expect(cosine([3, 4], [4, 3])).toBeCloseTo(24 / 25, 12);
    expect(cosine([0, 0], [1, 2])).toBe(0);
  });
});

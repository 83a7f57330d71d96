// The text of single tokens for logprobs (OpenAI shows each token as text), cached per id.
import type { TextTokenizer } from '@pagoda/tokenizer';

/** How logprobs name a token: by its text, or (return_tokens_as_token_ids) by its id. */
export interface TokenNames {
  get(id: number): string;
}

/** vLLM's return_tokens_as_token_ids: "token_id:<id>", which a client can map back whatever the text. */
export const TOKEN_ID_NAMES: TokenNames = { get: (id) => `token_id:${id}` };

export class TokenTexts implements TokenNames {
  private readonly cache = new Map<number, string>();
  constructor(private readonly tokenizer: TextTokenizer) {}

  get(id: number): string {
    let text = this.cache.get(id);
    if (text === undefined) {
      text = this.tokenizer.decode([id], { skipSpecialTokens: false });
      // SentencePiece marks a leading space with U+2581, which decoding a lone token drops.
      if (this.tokenizer.idToToken(id)?.startsWith('\u2581') && !text.startsWith(' '))
        text = ` ${text}`;
      this.cache.set(id, text);
    }
    return text;
  }
}

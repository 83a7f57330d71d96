// The text of one output sequence as tokens arrive: incremental detokenization, stop strings matched on
// the text (vLLM semantics: checked once min_tokens are out, truncated unless include_stop_str_in_output),
// and text that might be the start of a stop string held back until it is known not to be.
import { IncrementalDecoder, type TextTokenizer } from '@pagoda/tokenizer';

export interface OutputTextOptions {
  promptIds: readonly number[];
  stops: string[];
  includeStop: boolean;
  minTokens: number;
  skipSpecialTokens: boolean;
}

export interface TextStep {
  /** New text to send now. */
  delta: string;
  /** The stop string that ended this output, if one did. */
  stop: string | null;
}

export class OutputText {
  private text = '';
  private emitted = 0;
  private tokens = 0;
  private readonly decoder: IncrementalDecoder;
  private readonly holdBack: number;

  constructor(
    tokenizer: TextTokenizer,
    private readonly opts: OutputTextOptions,
  ) {
    this.decoder = new IncrementalDecoder(tokenizer, {
      promptIds: opts.promptIds,
      skipSpecialTokens: opts.skipSpecialTokens,
    });
    this.holdBack = Math.max(0, ...opts.stops.map((s) => s.length - 1));
  }

  push(ids: readonly number[]): TextStep {
    this.tokens += ids.length;
    return this.advance(this.decoder.push(ids), false);
  }

  /** The last of the text once the output has finished for another reason. */
  finish(): TextStep {
    return this.advance(this.decoder.flush(), true);
  }

  private advance(piece: string, final: boolean): TextStep {
    const searchFrom = Math.max(0, this.text.length - this.holdBack);
    this.text += piece;
    if (this.opts.stops.length > 0 && this.tokens > this.opts.minTokens) {
      const hit = earliestStop(this.text, this.opts.stops, searchFrom);
      if (hit) {
        const end = this.opts.includeStop ? hit.at + hit.stop.length : hit.at;
        const delta = this.text.slice(this.emitted, Math.max(end, this.emitted));
        this.emitted = Math.max(end, this.emitted);
        return { delta, stop: hit.stop };
      }
    }
    const safeEnd = final
      ? this.text.length
      : Math.max(this.emitted, this.text.length - this.holdBack);
    const delta = this.text.slice(this.emitted, safeEnd);
    this.emitted = safeEnd;
    return { delta, stop: null };
  }
}

function earliestStop(
  text: string,
  stops: string[],
  from: number,
): { at: number; stop: string } | null {
  let best: { at: number; stop: string } | null = null;
  for (const stop of stops) {
    const at = text.indexOf(stop, from);
    if (at >= 0 && (best === null || at < best.at)) best = { at, stop };
  }
  return best;
}

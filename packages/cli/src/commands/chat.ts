// `pagoda chat <model_uid>`: talk to a launched model through the server's OpenAI endpoint, one
// message (--message or standard input) or a conversation at the prompt; replies stream as they come.
import { createInterface } from 'node:readline/promises';
import type { CliIo } from '../cli-io.ts';
import type { ChatMessage, PagodaClient } from '@pagoda/client';
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  managementCommand,
  modelArgument,
  numberFlag,
  UsageError,
} from '../command-options.ts';

const USAGE = `usage: pagoda chat <model_uid> [--message TEXT] [flags]

Without --message: reads the message from standard input when it is not a terminal, else starts a
conversation at a prompt (an empty line or Ctrl-D ends it).
  -m, --message TEXT     one message; print the reply and exit
  --system TEXT          a system prompt
  --max-tokens N  --temperature T
  --no-stream            wait for the whole reply
${CONNECTION_HELP}
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  model: { type: 'string' },
  message: { type: 'string', short: 'm' },
  system: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'no-stream': { type: 'boolean' },
} as const;

async function reply(
  client: PagodaClient,
  model: string,
  messages: ChatMessage[],
  io: CliIo,
  opts: { stream: boolean; max_tokens?: number; temperature?: number },
): Promise<string> {
  if (!opts.stream) {
    const text = await client.chat(model, messages, opts);
    io.out(`${text}\n`);
    return text;
  }
  let text = '';
  for await (const delta of client.chatStream(model, messages, opts)) {
    text += delta;
    io.out(delta);
  }
  io.out('\n');
  return text;
}

export const run = managementCommand('chat', USAGE, FLAGS, async ({ values, positionals }, io) => {
  const { model } = modelArgument(
    values,
    positionals,
    'name the model uid to chat with (see `pagoda list`)',
  );
  const opts = {
    stream: !values['no-stream'],
    max_tokens: numberFlag(values['max-tokens'], 'max-tokens', { integer: true }),
    temperature: numberFlag(values.temperature, 'temperature'),
  };
  const client = clientFrom(values, io);
  const messages: ChatMessage[] = values.system ? [{ role: 'system', content: values.system }] : [];
  let single = values.message;
  if (single === undefined && !io.stdinIsTTY) single = (await io.readStdin()).trim();
  if (single !== undefined) {
    if (single === '') throw new UsageError('the message is empty');
    await reply(client, model, [...messages, { role: 'user', content: single }], io, opts);
    return 0;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    for (;;) {
      const line = (await rl.question('> ').catch(() => '')).trim();
      if (line === '') return 0;
      messages.push({ role: 'user', content: line });
      messages.push({
        role: 'assistant',
        content: await reply(client, model, messages, io, opts),
      });
    }
  } finally {
    rl.close();
  }
});

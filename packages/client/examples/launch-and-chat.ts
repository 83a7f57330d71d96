// Registers a local checkpoint, launches it, waits until it serves and chats with it: the README's
// first chat, through @pagoda/client. Run: node --import tsx examples/launch-and-chat.ts DIR TEMPLATE
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PagodaApiError, PagodaClient } from '@pagoda/client';

const [dir = '../shared/models/stories260k', template] = process.argv.slice(2);
const client = new PagodaClient(); // PAGODA_ENDPOINT, PAGODA_API_KEY, or http://127.0.0.1:9997
const name = 'example-model';

try {
  await client.register({
    model_name: name,
    model_path: resolve(dir),
    ...(template ? { chat_template: readFileSync(template, 'utf8') } : {}),
  });
} catch (err) {
  // Registered before: keep it, with this template.
  if (!(err instanceof PagodaApiError && err.status === 409)) throw err;
  if (template)
    await client.updateRegistration(name, { chat_template: readFileSync(template, 'utf8') });
}
const { model_uid } = await client.launch({ model_name: name });
for (;;) {
  const p = await client.progress(model_uid);
  if (p.status === 'ready') break;
  if (p.status === 'failed') throw new Error(`launch failed: ${p.last_error ?? 'see pagoda list'}`);
  await new Promise((r) => setTimeout(r, 500));
}
for await (const text of client.chatStream(
  model_uid,
  [{ role: 'user', content: 'Once upon a time' }],
  { max_tokens: 32 },
))
  process.stdout.write(text);
process.stdout.write('\n');
await client.terminate(model_uid);

// `pagoda register <name> --model-path DIR | --hf-repo-id ID`: a custom model, checked by the server
// (config.json of a supported architecture and tokenizer.json must be there); `--update` changes one.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RegistrationRequest } from '@pagoda/protocol';
import {
  clientFrom,
  CONNECTION_FLAGS,
  CONNECTION_HELP,
  managementCommand,
  numberFlag,
  UsageError,
} from '../command-options.ts';

const USAGE = `usage: pagoda register <model_name> (--model-path DIR | --hf-repo-id OWNER/NAME) [flags]
       pagoda register <model_name> --update [--chat-template FILE|TEXT] [other flags]
       pagoda register --file registration.json

  --model-path DIR        a checkpoint folder, relative to this directory or absolute
  --update                change a registered model: the flags given replace its values, the rest stay
                          (launched instances keep the old ones until terminated and launched again)
  --architecture ARCH     must match config.json (e.g. LlamaForCausalLM)
  --chat-template FILE|TEXT   a Jinja template file, or the template itself
  --context-length N      at most the model's max_position_embeddings
  -t, --model-type TYPE   LLM (the default), embedding or rerank
${CONNECTION_HELP}
`;

const FLAGS = {
  ...CONNECTION_FLAGS,
  'model-name': { type: 'string', short: 'n' },
  'model-path': { type: 'string' },
  'hf-repo-id': { type: 'string' },
  architecture: { type: 'string' },
  'chat-template': { type: 'string' },
  'context-length': { type: 'string' },
  'model-type': { type: 'string', short: 't' },
  file: { type: 'string' },
  update: { type: 'boolean' },
} as const;

export const run = managementCommand(
  'register',
  USAGE,
  FLAGS,
  async ({ values, positionals }, io) => {
    let body: RegistrationRequest;
    if (values.file) {
      if (positionals.length > 0 || values['model-path'] || values['hf-repo-id'])
        throw new UsageError(
          '--file holds the whole registration; give no other model flags with it',
        );
      try {
        body = JSON.parse(readFileSync(values.file, 'utf8')) as RegistrationRequest;
      } catch (err) {
        throw new UsageError(`--file ${values.file}: ${(err as Error).message}`);
      }
    } else {
      const name = values['model-name'] ?? positionals[0];
      if (!name)
        throw new UsageError('name the model: pagoda register <model_name> --model-path DIR');
      if (positionals.length > 1) {
        // `vllm serve DIR` habits: a folder after the name is meant as --model-path.
        const folder = positionals.length === 2 && !values['model-path'] ? positionals[1] : '';
        throw new UsageError(
          folder && existsSync(folder)
            ? `give the checkpoint folder with --model-path: pagoda register ${name} --model-path ${folder}`
            : `one model at a time; got ${positionals.join(' ')}`,
        );
      }
      if (!values.update && !values['model-path'] === !values['hf-repo-id'])
        throw new UsageError(
          'give exactly one of --model-path (a local checkpoint folder) or --hf-repo-id (owner/name)',
        );
      const template = values['chat-template'];
      body = {
        model_name: name,
        // The server may run elsewhere: a relative folder means this shell's directory, so send it absolute.
        ...(values['model-path'] ? { model_path: resolve(values['model-path']) } : {}),
        ...(values['hf-repo-id'] ? { hf_repo_id: values['hf-repo-id'] } : {}),
        ...(values.architecture ? { architecture: values.architecture } : {}),
        ...(template
          ? { chat_template: existsSync(template) ? readFileSync(template, 'utf8') : template }
          : {}),
        ...(values['context-length']
          ? {
              context_length: numberFlag(values['context-length'], 'context-length', {
                integer: true,
              })!,
            }
          : {}),
      };
    }
    const client = clientFrom(values, io);
    const type = values['model-type'] ?? 'LLM';
    if (values.update) {
      const { model_name: name, ...changes } = body;
      const updated = await client.updateRegistration(name, changes, type);
      const running = updated.launched_as ?? [];
      io.out(
        running.length === 0
          ? `Updated ${name}; launch it with \`pagoda launch ${name}\`\n`
          : `Updated ${name}. It is launched as ${running.join(', ')}, which keeps the old settings: ` +
              `\`pagoda terminate ${running.join(' ')}\`, then \`pagoda launch ${name}\`\n`,
      );
      return 0;
    }
    await client.register(body, type);
    io.out(`Registered ${body.model_name}; launch it with \`pagoda launch ${body.model_name}\`\n`);
    return 0;
  },
);

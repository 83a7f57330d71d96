// The `pagoda` command line: dispatches `pagoda <command> ...` to commands/<command>.ts, each
// of which exports `run(argv: string[]): Promise<number>` (the exit code).
const COMMANDS: Record<string, string> = {
  start: 'server and one local worker on the embedded defaults',
  serve: 'serve one model over an OpenAI-compatible API (like `vllm serve`)',
  bench: 'benchmarks (`pagoda bench serve`)',
  worker: 'the host agent of one machine: runs the replicas the server places on its GPUs',
  launch: 'launch a model on the cluster and follow it to ready',
  list: 'list launched models',
  terminate: 'terminate launched models',
  register: 'register a custom model (a checkpoint folder or a Hugging Face repo)',
  unregister: 'remove custom model registrations',
  registrations: 'list the models that can be launched',
  plan: 'show how a launch would use GPU memory, without launching',
  chat: 'chat with a launched model',
  embed: 'embed texts with a launched embedding model (sizes, norms, cosine similarities)',
  rerank: 'rank documents against a query with a launched rerank model',
  workers: 'list the workers in the cluster',
  devices: "list the cluster's GPUs and their memory",
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, what]) => `  ${name.padEnd(width)}  ${what}`);
  return `usage: pagoda <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage());
    return command ? 0 : 2;
  }
  if (!(command in COMMANDS)) {
    process.stderr.write(`pagoda: unknown command '${command}'\n\n${usage()}`);
    return 2;
  }
  const mod = (await import(`./commands/${command}.ts`)) as { run(argv: string[]): Promise<number> };
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pagoda: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

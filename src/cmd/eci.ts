// The `eci` command. The only place, with src/cli, that reads argv and the environment.

import { main } from '../cli/main.ts';

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`eci: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);

// Command dispatch for `eci`.


import { runDev, runServer, runKeys } from './daemons.ts';
import { runAction, printHelp } from './actions.ts';

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      printHelp();
      return 0;
    case 'server':
      return runServer(rest, env);
    case 'dev':
      return runDev(rest, env);
    case 'keys':
      return runKeys(rest, env);
    case 'eci':
    case 'vpc':
    case 'ecs':
      return runAction(command, rest, env);
    default:
      console.error(`eci: unknown command "${command}". Run \`eci help\`.`);
      return 2;
  }
}



// `eci run NAME --image IMG …`: one container group with one container, the common case, through
// CreateContainerGroup. Anything the flags do not cover is there as `eci eci CreateContainerGroup`.

import { keyValue, numberFlag, intFlag, parseVerbArgs } from '../args.ts';
import { CliError, EXIT_OK } from '../errors.ts';
import { positionalArgs, type Verb } from './verb.ts';

/** `80`, `80/tcp`, `53/UDP` → a container port. */
export function containerPort(text: string): { Port: number; Protocol: 'TCP' | 'UDP' } {
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(text.trim());
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) throw new CliError(`--port expects PORT or PORT/PROTOCOL such as 80/TCP or 53/UDP, not "${text}"`);
  return { Port: port, Protocol: (m[2]?.toUpperCase() ?? 'TCP') as 'TCP' | 'UDP' };
}

const RESTART = ['Always', 'OnFailure', 'Never'] as const;
const PULL = ['Always', 'IfNotPresent', 'Never'] as const;

/** `SERVER=USER:PASSWORD` → an ImageRegistryCredential (the password may contain ':'). */
export function registryCredential(text: string): { Server: string; UserName: string; Password: string } {
  const m = /^([^=]+)=([^:]+):(.*)$/s.exec(text);
  if (!m) throw new CliError(`--registry-login expects SERVER=USER:PASSWORD such as registry.example.com=me:secret, not "${text.replace(/:.*/s, ':…')}"`);
  return { Server: m[1], UserName: m[2], Password: m[3] };
}

export const runVerb: Verb = {
  name: 'run',
  summary: 'create a container group and print its id',
  help: `eci run NAME --image IMAGE [options] [-- COMMAND ARG…]   create a container group (CreateContainerGroup)

Options:
  --image IMAGE          container image (required)
  --cpu N                vCPUs of the group (e.g. 0.5, 2)
  --memory N             memory of the group in GiB (e.g. 1, 4)
  --command WORD         the command, one --command per word (or everything after --)
  --arg WORD             arguments to the command, one per --arg (a word starting with - as --arg=-x)
  --env KEY=VALUE        an environment variable (repeatable)
  --port PORT[/PROTO]    a container port, TCP (default) or UDP (repeatable)
  --vswitch vsw-…        the vSwitch (default: the region's default vSwitch)
  --sg sg-…              the security group (default: the default security group)
  --zone ZONE            the zone
  --eip                  give the group its own new EIP (AutoCreateEip)
  --eip-bandwidth N      that EIP's bandwidth in Mbit/s (implies --eip; default 5)
  --restart POLICY       Always (default) | OnFailure | Never
  --pull POLICY          ImagePullPolicy: Always | IfNotPresent (default) | Never
  --registry-login SERVER=USER:PASSWORD
                         credentials for a private registry (ImageRegistryCredential; repeatable)
  --plain-http-registry HOST[:PORT]   a registry spoken to over plain HTTP (repeatable)
  --insecure-registry HOST[:PORT]     a registry whose TLS certificate is not verified (repeatable)
  --image-cache imc-…    start from this image cache (ImageSnapshotId)
  --auto-image-cache     start from the best matching image cache, if any (AutoMatchImageCache)
  --tag KEY=VALUE        a tag (repeatable)
  --client-token TOKEN   make a retried call idempotent
  --json                 print the whole response

Example:
  eci run web --image nginx:alpine --cpu 1 --memory 2 --port 80 --eip --eip-bandwidth 10
  eci run once --image busybox --restart Never -- sh -c 'echo hello'`,
  async run(ctx, argv) {
    const { values, positionals, trailing } = parseVerbArgs('run', argv, {
      image: { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      command: { type: 'string', multiple: true },
      arg: { type: 'string', multiple: true },
      env: { type: 'string', multiple: true },
      port: { type: 'string', multiple: true },
      vswitch: { type: 'string' },
      sg: { type: 'string' },
      zone: { type: 'string' },
      eip: { type: 'boolean' },
      'eip-bandwidth': { type: 'string' },
      restart: { type: 'string' },
      pull: { type: 'string' },
      'registry-login': { type: 'string', multiple: true },
      'plain-http-registry': { type: 'string', multiple: true },
      'insecure-registry': { type: 'string', multiple: true },
      'image-cache': { type: 'string' },
      'auto-image-cache': { type: 'boolean' },
      tag: { type: 'string', multiple: true },
      'client-token': { type: 'string' },
      json: { type: 'boolean' },
    });
    const [name] = positionalArgs('run', positionals, ['NAME']);
    if (!values.image) throw new CliError('eci run: --image is required (e.g. --image nginx:alpine)');
    const restart = values.restart === undefined ? undefined : RESTART.find((r) => r.toLowerCase() === values.restart!.toLowerCase());
    if (values.restart !== undefined && !restart) throw new CliError(`eci run: --restart is one of ${RESTART.join(', ')}, not "${values.restart}"`);
    const pull = values.pull === undefined ? undefined : PULL.find((r) => r.toLowerCase() === values.pull!.toLowerCase());
    if (values.pull !== undefined && !pull) throw new CliError(`eci run: --pull is one of ${PULL.join(', ')}, not "${values.pull}"`);
    const eipBandwidth = intFlag('eip-bandwidth', values['eip-bandwidth'], 1);
    const command = [...(values.command ?? []), ...trailing];
    const container = {
      Name: name,
      Image: values.image,
      ImagePullPolicy: pull,
      Command: command.length ? command : undefined,
      Arg: values.arg?.length ? values.arg : undefined,
      Port: values.port?.map(containerPort),
      EnvironmentVar: values.env?.map((e) => keyValue('env', e)),
    };
    const params = {
      ContainerGroupName: name,
      Cpu: numberFlag('cpu', values.cpu),
      Memory: numberFlag('memory', values.memory),
      RestartPolicy: restart,
      VSwitchId: values.vswitch,
      SecurityGroupId: values.sg,
      ZoneId: values.zone,
      AutoCreateEip: values.eip || eipBandwidth !== undefined ? true : undefined,
      EipBandwidth: eipBandwidth,
      Tag: values.tag?.map((t) => keyValue('tag', t)),
      ClientToken: values['client-token'],
      ImageRegistryCredential: values['registry-login']?.map(registryCredential),
      PlainHttpRegistry: values['plain-http-registry']?.join(','),
      InsecureRegistry: values['insecure-registry']?.join(','),
      ImageSnapshotId: values['image-cache'],
      AutoMatchImageCache: values['auto-image-cache'] ? true : undefined,
      Container: [container],
    };
    const r = await ctx.client().call('eci', 'CreateContainerGroup', params);
    ctx.io.out(values.json ? JSON.stringify(r, null, 2) : String(r.ContainerGroupId));
    return EXIT_OK;
  },
};

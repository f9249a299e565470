import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { JsonRecord } from '../support/ndjson';

/** The repository root (this file runs from dist/test/stack/). */
export const REPO_ROOT = path.resolve(__dirname, '../../..');

export function repoPath(...parts: string[]): string {
  return path.join(REPO_ROOT, ...parts);
}

export function readText(relative: string): string {
  return fs.readFileSync(repoPath(relative), 'utf8');
}

export function readYaml<T = JsonRecord>(relative: string): T {
  return YAML.parse(readText(relative)) as T;
}

/** Files directly in a repository folder whose names end with one of the extensions. */
export function listFiles(relativeDir: string, extensions: string[]): string[] {
  const dir = repoPath(relativeDir);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => extensions.some((ext) => name.endsWith(ext)))
    .sort()
    .map((name) => path.posix.join(relativeDir, name));
}

export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<string | number | { target: number; published?: string | number; host_ip?: string }>;
  expose?: Array<string | number>;
  volumes?: Array<string | { type?: string; source?: string; target: string }>;
  depends_on?: string[] | Record<string, unknown>;
  profiles?: string[];
  healthcheck?: Record<string, unknown>;
}

export interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export const COMPOSE_FILE = 'docker-compose.yml';

export function loadCompose(): Compose {
  return readYaml<Compose>(COMPOSE_FILE);
}

export function service(compose: Compose, name: string): ComposeService {
  const found = compose.services[name];
  if (!found)
    throw new Error(`${COMPOSE_FILE} has no service "${name}" (services: ${Object.keys(compose.services).join(', ')})`);
  return found;
}

export function environmentOf(svc: ComposeService): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(svc.environment)) {
    for (const entry of svc.environment) {
      const at = entry.indexOf('=');
      out[at < 0 ? entry : entry.slice(0, at)] = at < 0 ? '' : entry.slice(at + 1);
    }
  } else {
    for (const [key, value] of Object.entries(svc.environment ?? {})) out[key] = value === null ? '' : String(value);
  }
  return out;
}

export function commandOf(svc: ComposeService): string[] {
  if (svc.command === undefined) return [];
  return Array.isArray(svc.command) ? svc.command.map(String) : svc.command.split(/\s+/).filter(Boolean);
}

/** Value of `--name=value`, `-name=value` or `--name value` in a command. */
export function flagValue(command: string[], name: string): string | undefined {
  for (let i = 0; i < command.length; i++) {
    const arg = command[i]!;
    for (const prefix of [`--${name}`, `-${name}`]) {
      if (arg.startsWith(`${prefix}=`)) return arg.slice(prefix.length + 1);
      if (arg === prefix) return command[i + 1];
    }
  }
  return undefined;
}

export interface PortMapping {
  container: number;
  host?: number;
}

export function portMappings(svc: ComposeService): PortMapping[] {
  return (svc.ports ?? []).map((entry) => {
    if (typeof entry === 'object') {
      return {
        container: Number(entry.target),
        host: entry.published === undefined ? undefined : Number(entry.published),
      };
    }
    const text = String(entry).replace(/\/(tcp|udp)$/, '');
    const parts = text.split(':');
    const container = Number(parts.at(-1));
    const host = parts.length >= 2 ? Number(parts.at(-2)) : undefined;
    return { container, host };
  });
}

/** Ports a service listens on inside the compose network: its `ports` (container side) and `expose`. */
export function containerPorts(svc: ComposeService): Set<number> {
  const ports = new Set(portMappings(svc).map((mapping) => mapping.container));
  for (const port of svc.expose ?? []) ports.add(Number(String(port).replace(/\/(tcp|udp)$/, '')));
  return ports;
}

export interface Mount {
  source: string;
  target: string;
  bind: boolean;
}

export function mountsOf(svc: ComposeService): Mount[] {
  return (svc.volumes ?? []).map((entry) => {
    if (typeof entry === 'object') {
      const source = entry.source ?? '';
      return { source, target: entry.target, bind: entry.type === 'bind' || /^[./~]/.test(source) };
    }
    const [source = '', target = ''] = entry.split(':');
    return { source, target, bind: /^[./~]/.test(source) };
  });
}

/** The repository file or folder mounted at `target` (or a parent of it) in a service. */
export function hostPathFor(svc: ComposeService, target: string): string | undefined {
  for (const mount of mountsOf(svc).filter((m) => m.bind)) {
    if (target === mount.target) return mount.source;
    if (target.startsWith(`${mount.target}/`))
      return path.posix.join(mount.source, target.slice(mount.target.length + 1));
  }
  return undefined;
}

/** host and port of `host:port`, `http://host:port/path` or `[scheme://]host:port`. */
export function hostAndPort(endpoint: string): { host: string; port: number; path: string } {
  const url = new URL(/^[a-z]+:\/\//i.test(endpoint) ? endpoint : `tcp://${endpoint}`);
  const defaultPort = url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : NaN;
  return { host: url.hostname, port: url.port ? Number(url.port) : defaultPort, path: url.pathname };
}

/** The tag of an image reference (`repo:tag` or `repo:tag@sha256:…`), undefined without one. */
export function imageTag(image: string): string | undefined {
  const withoutDigest = image.split('@')[0]!;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  return colon < 0 ? undefined : withoutDigest.slice(colon + 1);
}

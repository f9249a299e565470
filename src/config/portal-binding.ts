import { ConfigError } from './errors';

/**
 * The portal a token is bound to (BITRIX24_WEBHOOK_TOKENS `name=token@member_id`, `@domain`, or both as
 * `@member_id@domain`): a delivery verified by that token must name that portal, or one portal's token could
 * sign events as another's. Neither is secret: both are in every delivery's `auth` block.
 */
export interface PortalBinding {
  memberId?: string;
  /** Lower case. */
  domain?: string;
}

const MEMBER_ID = /^[0-9a-z]{8,64}$/;
const DOMAIN = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)+$/;

/** `token@a@b` → the token and its binding; a value without `@` is a token alone. */
export function splitBinding(value: string, where: string): { token: string; portal?: PortalBinding } {
  const at = value.indexOf('@');
  if (at < 0) return { token: value };
  // A URL pasted as the token (user@host) is reported by hygiene, not read as a binding.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) return { token: value };
  const portal: PortalBinding = {};
  for (const raw of value.slice(at + 1).split('@')) {
    const part = raw.trim().toLowerCase();
    if (part.includes('.')) {
      if (!DOMAIN.test(part))
        throw new ConfigError(where, `the portal domain after @ is not a host name (e.g. example.bitrix24.ru)`);
      if (portal.domain !== undefined) throw new ConfigError(where, 'two portal domains after @; bind one');
      portal.domain = part;
    } else {
      if (!MEMBER_ID.test(part))
        throw new ConfigError(where, `the member_id after @ must be 8 to 64 characters of 0-9 and a-z`);
      if (portal.memberId !== undefined) throw new ConfigError(where, 'two member_ids after @; bind one');
      portal.memberId = part;
    }
  }
  return { token: value.slice(0, at), portal };
}

/** Why a delivery's portal does not match a binding, in words naming both sides (never a token); undefined when it matches. */
export function bindingMismatch(
  binding: PortalBinding,
  delivery: { memberId: string | undefined; domain: string | undefined },
  name: string,
): string | undefined {
  if (binding.memberId !== undefined && delivery.memberId?.toLowerCase() !== binding.memberId) {
    return `token ${name} is bound to member_id ${binding.memberId}; the delivery names ${describe(delivery.memberId)}`;
  }
  if (binding.domain !== undefined && delivery.domain?.toLowerCase() !== binding.domain) {
    return `token ${name} is bound to portal ${binding.domain}; the delivery names ${describe(delivery.domain)}`;
  }
  return undefined;
}

function describe(value: string | undefined): string {
  return value === undefined ? 'none' : JSON.stringify(value.slice(0, 80));
}
